"""GS1 Digital Link resolution: which links an identifier has, as an RFC 9264 linkset.

The batch's trace page is the default link (gs1:pip); the EPCIS document of its events
(gs1:traceability, also asked for as gs1:epcis); its Digital Product Passport (untp:dpp); the
product's shop page (gs1:pip at GTIN level).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

GS1_VOC = "https://ref.gs1.org/voc/"
UNTP_DPP = "https://test.uncefact.org/vocabulary/untp/dpp"

# linkType values a client may ask for, and the relation each resolves to.
LINK_TYPES = {
    "gs1:pip": GS1_VOC + "pip",
    "gs1:traceability": GS1_VOC + "traceability",
    "gs1:epcis": GS1_VOC + "epcis",
    "untp:dpp": UNTP_DPP,
    "gs1:defaultLink": GS1_VOC + "defaultLink",
}


def with_query(uri: str, **params: str) -> str:
    return f"{uri}?{urlencode(params)}" if params else uri


def batch_linkset(uri: str, *, product_name: str, gtin_uri: str, has_passport: bool, recalled: bool) -> dict[str, Any]:
    """Links of a batch and, as the resolver standard asks, of each level up to the GTIN."""
    pip = {"href": uri, "title": "Nguồn gốc lô hàng / Batch origin", "type": "text/html", "hreflang": ["vi", "en"]}
    links: dict[str, Any] = {
        "anchor": uri,
        "itemDescription": product_name + (" (recalled / đã thu hồi)" if recalled else ""),
        GS1_VOC + "pip": [pip],
        GS1_VOC + "traceability": [{"href": with_query(uri, linkType="gs1:traceability"),
                                     "title": "EPCIS 2.0 events", "type": "application/ld+json"}],
        GS1_VOC + "epcis": [{"href": with_query(uri, linkType="gs1:epcis"), "title": "EPCIS 2.0 events",
                             "type": "application/ld+json"}],
        GS1_VOC + "defaultLink": [pip],
    }
    if has_passport:
        links[UNTP_DPP] = [{"href": with_query(uri, linkType="untp:dpp"), "title": "Digital Product Passport",
                            "type": "application/vc+jwt"}]
    product = {
        "anchor": gtin_uri,
        "itemDescription": product_name,
        GS1_VOC + "pip": [{"href": gtin_uri, "title": "Sản phẩm / Product", "type": "text/html", "hreflang": ["vi", "en"]}],
        GS1_VOC + "defaultLink": [{"href": gtin_uri, "title": "Sản phẩm / Product", "type": "text/html"}],
    }
    return {"linkset": [links, product]}


def link_header(uri: str) -> str:
    return f'<{with_query(uri, linkType="linkset")}>; rel="linkset"; type="application/linkset+json"'


def resolver_description(base_url: str, name: str) -> dict[str, Any]:
    return {
        "name": name,
        "resolverRoot": base_url,
        "supportedPrimaryKeys": ["gtin"],
        "supportedLinkType": [{"namespace": GS1_VOC, "prefix": "gs1:", "profile": "https://ref.gs1.org/voc/"}]
        + [{"namespace": UNTP_DPP, "prefix": "untp:"}],
        "linkTypes": sorted(LINK_TYPES) + ["linkset"],
        "linkTypeDefaultCanBeLinkset": False,
        "supportedContextValuesEnumerated": [],
        "validatesDigitalLinkSyntax": True,
    }
