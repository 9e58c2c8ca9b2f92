"""Link tests reuse the campaign fixtures (runtime with a links base URL, the shop, the API client)."""

from tests.campaigns.conftest import api, runtime, shop  # noqa: F401
