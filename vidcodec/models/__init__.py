"""Neural network modules and the installed-model registry (zoo)."""
