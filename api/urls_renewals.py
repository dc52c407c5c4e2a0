from django.urls import path

from api.views import renewals

urlpatterns = [
    path("quotes/", renewals.QuoteView.as_view(), name="api-quotes"),
    path("renewals/", renewals.RenewalView.as_view(), name="api-renewals"),
]
