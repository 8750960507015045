"""``python -m privhealth.experiments.report``: the same as ``privhealth-report``."""

from privhealth.experiments.report.cli import main

if __name__ == "__main__":
    main()
