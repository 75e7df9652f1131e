"""What make's targets run besides the notebooks: notebook execution, dependency rules, re-checks, the HTML
report, benchmarks and the Pi check."""
