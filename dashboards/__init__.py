"""A read-only web dashboard over the manifest: `dashboards.app.create_app(home)`, `dashboards.app.serve(home)`."""
