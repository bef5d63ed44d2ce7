"""The failure catalogue (docs/scenarios.md), one test body per scenario, every transport."""
