"""The claims of the two papers, declared in TOML (one file per paper) and collected by the plugin."""
