"""What a trial is: run and trial specs, suites, search spaces (plain, validated data)."""
