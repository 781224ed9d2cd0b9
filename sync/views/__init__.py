"""Console views, one module per page family; each view is a short function that returns the
full page, or just its fragment for an htmx request."""
