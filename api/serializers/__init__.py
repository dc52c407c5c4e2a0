"""Output shapes and query strings of the API, one module per resource
(the views' modules have the same names). Serializers only shape data: the
rules live in the services and selectors they are given results of."""
