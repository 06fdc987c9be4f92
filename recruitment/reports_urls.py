"""Admin report pages: the pipeline dashboard and the chain gap maps."""

urlpatterns: list = []
