from django.urls import path

from api.views import open_renewals, renewals

urlpatterns = [
    path("quotes/", renewals.QuoteView.as_view(), name="api-quotes"),
    path("renewals/", renewals.RenewalView.as_view(), name="api-renewals"),
    path("open-renewals/", open_renewals.OpenRenewalList.as_view(), name="api-open-renewals"),
]
