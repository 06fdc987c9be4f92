"""URLs of the partner REST API v1, its schema and its docs (served offline)."""

from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import SimpleRouter

from api.feed import ChangeFeedView
from api.resources.contacts import ContactViewSet
from api.resources.enterprises import EnterpriseViewSet
from api.resources.follow_ups import FollowUpViewSet
from api.resources.gaps import GapCandidatesView, GapListView
from api.resources.interactions import InteractionViewSet
from api.resources.progress import ProgressViewSet
from api.resources.projects import ProjectViewSet
from api.resources.reference import ChainViewSet, ParkViewSet, SectorViewSet
from api.resources.reports import EvidenceDownloadView, MonthlyReportView, MonthlySubmitView
from api.resources.supervision_orders import SupervisionOrderViewSet

app_name = "api"

router = SimpleRouter()
router.register("v1/parks", ParkViewSet, basename="parks")
router.register("v1/sectors", SectorViewSet, basename="sectors")
router.register("v1/chains", ChainViewSet, basename="chains")
for viewset in (
    EnterpriseViewSet,
    ContactViewSet,
    InteractionViewSet,
    ProjectViewSet,
    FollowUpViewSet,
    ProgressViewSet,
    SupervisionOrderViewSet,
):
    router.register(f"v1/{viewset.basename}", viewset, basename=viewset.basename)

urlpatterns = [
    path("v1/changes/", ChangeFeedView.as_view(), name="changes"),
    path("v1/gaps/", GapListView.as_view(), name="gaps"),
    path("v1/gaps/candidates/", GapCandidatesView.as_view(), name="gap-candidates"),
    path("v1/reports/monthly/", MonthlyReportView.as_view(), name="reports-monthly"),
    path("v1/reports/monthly/submit/", MonthlySubmitView.as_view(), name="reports-monthly-submit"),
    path("v1/evidence/<uuid:pk>/", EvidenceDownloadView.as_view(), name="evidence"),
    *router.urls,
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api:schema"), name="docs"),
]
