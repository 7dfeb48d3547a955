"""The shipped recipes: one TOML file per method, read by ``edgedistill.chain.recipe``."""
