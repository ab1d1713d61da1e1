"""Engine events and inspect -> rows, with no loss. The only user of the docker SDK."""
