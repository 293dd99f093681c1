"""HTTP routes, thin: they translate between HTTP and the services."""
