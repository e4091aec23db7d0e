"""Provider addresses: link-local and cloud metadata addresses refused, local servers allowed."""

from __future__ import annotations

from dataclasses import replace

import pytest

from core.errors import InvalidCatalog
from core.provider_hosts import SETTING, ProviderAddressBlocked, ProviderHosts
from tests.support import make_catalog

pytestmark = pytest.mark.anyio
METADATA_URLS = [
    "http://169.254.169.254/latest/meta-data",
    "http://169.254.1.1:8080/v1",
    "http://2852039166/v1",  # 169.254.169.254 in decimal
    "http://0xa9.0xfe.0xa9.0xfe/v1",
    "http://0251.0376.0251.0376/v1",
    "http://169.254.43518/v1",
    "http://[fe80::1]/v1",
    "http://[fe80::1%25eth0]/v1",
    "http://[fd00:ec2::254]/latest",
    "http://[::ffff:169.254.169.254]/v1",
    "http://[64:ff9b::a9fe:a9fe]/v1",
    "http://metadata.google.internal/computeMetadata/v1",
    "http://METADATA.google.internal./v1",
    "http://metadata/v1",
    "http://instance-data.ec2.internal/v1",
]
LOCAL_URLS = [
    "http://127.0.0.1:11434",
    "http://localhost:8000/v1",
    "http://[::1]:8000/v1",
    "http://10.0.0.5:8000/v1",
    "http://192.168.1.20/v1",
    "http://172.16.0.9/v1",
    "http://[fd12:3456::1]/v1",
    "https://api.openai.com/v1",
    "http://vllm.internal:8000/v1",
]
NAMES = {
    "vllm.internal": ["10.0.0.7"],
    "localhost": ["127.0.0.1"],
    "api.openai.com": ["162.159.140.245"],
    "sneaky.example": ["93.184.216.34", "169.254.169.254"],
    "v6.example": ["fe80::1"],
}


async def resolver(host: str, port: int) -> list[str]:
    """DNS for these tests: the names above, nothing else."""
    if host not in NAMES:
        raise OSError(f"{host} does not resolve")
    return NAMES[host]


@pytest.mark.parametrize("url", METADATA_URLS)
async def test_link_local_and_metadata_addresses_are_refused_naming_the_setting(url: str) -> None:
    with pytest.raises(ProviderAddressBlocked) as caught:
        await ProviderHosts(resolver=resolver).check(url)
    assert caught.value.code == "provider_address_blocked" and SETTING in caught.value.message


@pytest.mark.parametrize("url", LOCAL_URLS)
async def test_loopback_private_and_public_addresses_stay_allowed(url: str) -> None:
    await ProviderHosts(resolver=resolver).check(url)


@pytest.mark.parametrize("name", ["sneaky.example", "v6.example"])
async def test_a_name_resolving_to_a_metadata_address_is_refused(name: str) -> None:
    with pytest.raises(ProviderAddressBlocked):
        await ProviderHosts(resolver=resolver).check(f"http://{name}/v1")


async def test_a_name_that_does_not_resolve_passes_as_nothing_can_be_reached() -> None:
    await ProviderHosts(resolver=resolver).check("http://nowhere.example/v1")


@pytest.mark.parametrize(
    ("allowed", "url"),
    [
        ("169.254.169.254", "http://169.254.169.254/v1"),
        ("169.254.169.254:8080", "http://169.254.169.254:8080/v1"),
        ("[fe80::1]:80", "http://[fe80::1]/v1"),
        ("metadata.google.internal", "http://metadata.google.internal/v1"),
        ("sneaky.example", "http://sneaky.example/v1"),
    ],
)
async def test_an_operator_allows_a_host_or_host_and_port(allowed: str, url: str) -> None:
    await ProviderHosts([allowed], resolver=resolver).check(url)


async def test_allowing_a_host_on_one_port_does_not_allow_another() -> None:
    with pytest.raises(ProviderAddressBlocked):
        await ProviderHosts(["169.254.169.254:8080"]).check("http://169.254.169.254:9090/v1")


async def test_a_name_re_resolving_to_a_metadata_address_is_refused_once_the_cache_expires() -> (
    None
):
    answers = {"flip.example": ["10.0.0.8"]}
    now = [0.0]

    async def flipping(host: str, port: int) -> list[str]:
        return answers[host]

    hosts = ProviderHosts(resolver=flipping, cache_seconds=30, clock=lambda: now[0])
    catalog = make_catalog("http://flip.example/v1")
    model = catalog.models["fake"]
    await hosts.check_model(model, catalog)
    answers["flip.example"] = ["169.254.169.254"]
    await hosts.check_model(model, catalog)  # within the cache: the checked answer holds
    now[0] = 31.0
    with pytest.raises(ProviderAddressBlocked):
        await hosts.check_model(model, catalog)


async def test_a_model_is_refused_when_a_model_it_falls_back_to_points_at_metadata() -> None:
    catalog = make_catalog("http://127.0.0.1:9/v1")
    backup = catalog.models["fake-backup"]
    params = dict(backup.deployments[0].litellm_params, api_base="http://169.254.169.254/v1")
    deployment = replace(backup.deployments[0], litellm_params=params)
    catalog.models = {**catalog.models, "fake-backup": replace(backup, deployments=(deployment,))}
    await ProviderHosts().check_model(catalog.models["fake"], catalog)  # no fallbacks
    with pytest.raises(ProviderAddressBlocked):
        await ProviderHosts().check_model(catalog.models["fake-broken"], catalog)


def test_a_catalog_pointing_at_metadata_is_refused_at_load_naming_the_model(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(InvalidCatalog, match=f"'fake'.*{SETTING}"):
        ProviderHosts().check_catalog(make_catalog("http://169.254.169.254/v1"))
    ProviderHosts(["169.254.169.254"]).check_catalog(make_catalog("http://169.254.169.254/v1"))
    ProviderHosts().check_catalog(make_catalog("http://127.0.0.1:11434/v1"))


def test_a_catalog_api_base_from_the_environment_is_checked_too(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TEST_PROVIDER_BASE", "http://[fd00:ec2::254]/v1")
    with pytest.raises(InvalidCatalog, match=SETTING):
        ProviderHosts().check_catalog(make_catalog("os.environ/TEST_PROVIDER_BASE"))


@pytest.mark.parametrize("url", ["http://\x80/v1", "http://a\u0300\u200d.example/v1"])
async def test_a_host_no_resolver_could_look_up_passes_with_the_system_resolver(url: str) -> None:
    await ProviderHosts().check(url)
    ProviderHosts().check_sync(url)
