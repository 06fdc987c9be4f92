"""``/api/v1/webhook-endpoints/…`` (mounted next to the API's own URLs)."""

from rest_framework.routers import SimpleRouter

from push.api import WebhookEndpointViewSet

app_name = "push"

router = SimpleRouter()
router.register(
    f"v1/{WebhookEndpointViewSet.basename}", WebhookEndpointViewSet, basename=WebhookEndpointViewSet.basename
)

urlpatterns = router.urls
