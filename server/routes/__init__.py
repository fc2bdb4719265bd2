"""HTTP routes, one module per resource; each route is a few lines over the repository and loop."""
