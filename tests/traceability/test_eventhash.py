"""Tests for traceability.eventhash: the GS1 CBV 2.0 EPCIS Event Hash ID.

Official test vectors come from the GS1 reference implementation,
https://github.com/RalphTro/epcis-event-hash-generator (MIT licence):
inputs from ``tests/examples/documents/``, expected pre-hash strings and
hashes from ``tests/examples/expected/CBV2.0/<name>.prehashes`` and
``<name>.hashes``.  The input documents are copied as data (re-indented
only); the expected strings are verbatim, merely wrapped over several lines
at field boundaries.  The SHA-256 of every expected pre-hash string is checked
against the expected hash, so a transcription slip cannot hide.

Five more official vectors (the ``*_all_possible_fields`` documents, which
cover every standard field plus nested user extensions) are read from the
shared EPCIS conformance examples, which contain the very same documents.
"""

from __future__ import annotations

import copy

from tests.conformance import CONFORMANCE  # noqa: E402
import hashlib
import json
import os
import random
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from traceability.eventhash import (
    canonical_digital_link,
    document_event_hashes,
    event_hash,
    prehash_string,
)

HASH_FORMAT = re.compile(r"ni:///sha-256;[0-9a-f]{64}\?ver=CBV2\.0")

# ---------------------------------------------------------------------------
# Official vectors (GS1 reference project, CBV 2.0 expectations)
# ---------------------------------------------------------------------------

# tests/examples/documents/ReferenceEventHashAlgorithm.jsonld
_REFERENCEEVENTHASHALGORITHM_DOC = r"""
{
  "@context": [
    "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
    {
      "example": "https://ns.example.com/epcis/"
    }
  ],
  "id": "https://id.example.org/document1",
  "type": "EPCISDocument",
  "schemaVersion": "2.0",
  "creationDate": "2022-02-17T11:30:47.0Z",
  "epcisBody": {
    "eventList": [
      {
        "type": "ObjectEvent",
        "eventTime": "2020-03-04T11:00:30.000+01:00",
        "eventTimeZoneOffset": "+01:00",
        "recordTime": "2020-03-04T11:00:30.999+01:00",
        "epcList": [
          "urn:epc:id:sscc:4012345.0000000333",
          "urn:epc:id:sscc:4012345.0000000111",
          "urn:epc:id:sscc:4012345.0000000222"
        ],
        "action": "OBSERVE",
        "bizStep": "departing",
        "readPoint": {
          "id": "urn:epc:id:sgln:4012345.00011.987"
        },
        "example:myField1": {
          "example:mySubField1": "2",
          "example:mySubField2": "5"
        },
        "example:myField2": "0",
        "example:myField3": {
          "example:mySubField3": [
            "3",
            "1"
          ]
        }
      }
    ]
  }
}
"""

# tests/examples/documents/ReferenceEventHashAlgorithm2.jsonld
_REFERENCEEVENTHASHALGORITHM2_DOC = r"""
{
  "@context": [
    "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
  ],
  "id": "https://id.example.org/document1",
  "type": "EPCISDocument",
  "schemaVersion": "2.0",
  "creationDate": "2022-02-17T11:30:47.0Z",
  "epcisBody": {
    "eventList": [
      {
        "type": "ObjectEvent",
        "eventTime": "2020-04-01T15:00:00+01:00",
        "eventTimeZoneOffset": "+01:00",
        "epcList": [
          "urn:epc:id:sgtin:4012345.011111.9876"
        ],
        "action": "OBSERVE",
        "bizStep": "inspecting",
        "readPoint": {
          "id": "urn:epc:id:sgln:4012345.00005.0"
        },
        "sensorElementList": [
          {
            "sensorMetadata": {
              "deviceID": "urn:epc:id:giai:4000001.111",
              "deviceMetadata": "https://id.gs1.org/8004/4000001111"
            },
            "sensorReport": [
              {
                "type": "Temperature",
                "value": 26,
                "sDev": 0.1,
                "uom": "CEL"
              },
              {
                "type": "AbsoluteHumidity",
                "value": 12.1,
                "uom": "A93"
              },
              {
                "type": "Dimensionless",
                "microorganism": "https://www.ncbi.nlm.nih.gov/taxonomy/1126011",
                "value": 0.05,
                "uom": "C35"
              },
              {
                "type": "Dimensionless",
                "chemicalSubstance": "https://identifiers.org/inchikey:CZMRCDWAGMRECN-UGDNZRGBSA-N",
                "value": 0.18,
                "uom": "C35"
              }
            ]
          }
        ]
      }
    ]
  }
}
"""

_REFERENCEEVENTHASHALGORITHM2_PREHASH = (
    "eventType=ObjectEventeventTime=2020-04-01T14:00:00.000ZeventTimeZoneOffset=+01:00"
    "epcListepc=https://id.gs1.org/01/04012345111118/21/9876action=OBSERVE"
    "bizStep=https://ref.gs1.org/cbv/BizStep-inspecting"
    "readPointid=https://id.gs1.org/414/4012345000054sensorElement"
    "sensorMetadatadeviceID=https://id.gs1.org/8004/4000001111"
    "deviceMetadata=https://id.gs1.org/8004/4000001111sensorReport"
    "type=https://ref.gs1.org/voc/AbsoluteHumidityvalue=12.1uom=A93sensorReport"
    "type=https://ref.gs1.org/voc/Dimensionless"
    "chemicalSubstance=https://identifiers.org/inchikey:CZMRCDWAGMRECN-UGDNZRGBSA-N"
    "value=0.18uom=C35sensorReporttype=https://ref.gs1.org/voc/Dimensionless"
    "microorganism=https://www.ncbi.nlm.nih.gov/taxonomy/1126011value=0.05uom=C35"
    "sensorReporttype=https://ref.gs1.org/voc/Temperaturevalue=26sDev=0.1uom=CEL"
)

# tests/examples/documents/ReferenceEventHashAlgorithm3.jsonld
_REFERENCEEVENTHASHALGORITHM3_DOC = r"""
{
  "@context": [
    "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
    {
      "example": "https://ns.example.com/epcis/"
    }
  ],
  "id": "https://id.example.org/document1",
  "type": "EPCISDocument",
  "schemaVersion": "2.0",
  "creationDate": "2022-02-17T11:30:47.0Z",
  "epcisBody": {
    "eventList": [
      {
        "type": "ObjectEvent",
        "eventTime": "2020-03-04T11:00:30+01:00",
        "eventTimeZoneOffset": "+01:00",
        "epcList": [
          "urn:epc:id:sgtin:0614141.011111.987"
        ],
        "action": "OBSERVE",
        "bizStep": "departing",
        "disposition": "in_transit",
        "readPoint": {
          "id": "urn:epc:id:sgln:4012345.00011.0",
          "example:myField1": "AB-12"
        },
        "bizTransactionList": [
          {
            "type": "po",
            "bizTransaction": "urn:epc:id:gdti:4012345.11111.123"
          }
        ],
        "sourceList": [
          {
            "type": "owning_party",
            "source": "urn:epc:id:pgln:4012345.00000"
          }
        ],
        "destinationList": [
          {
            "type": "owning_party",
            "destination": "urn:epc:id:pgln:0614141.00000"
          }
        ],
        "example:userExt": "CD-34"
      }
    ]
  }
}
"""

_REFERENCEEVENTHASHALGORITHM3_PREHASH = (
    "eventType=ObjectEventeventTime=2020-03-04T10:00:30.000ZeventTimeZoneOffset=+01:00"
    "epcListepc=https://id.gs1.org/01/00614141111114/21/987action=OBSERVE"
    "bizStep=https://ref.gs1.org/cbv/BizStep-departing"
    "disposition=https://ref.gs1.org/cbv/Disp-in_transit"
    "readPointid=https://id.gs1.org/414/4012345000115bizTransactionList"
    "type=https://ref.gs1.org/cbv/BTT-pobizTrans"
    "action=https://id.gs1.org/253/4012345111118123sourceList"
    "type=https://ref.gs1.org/cbv/SDT-owning_party"
    "source=https://id.gs1.org/417/4012345000009destinationList"
    "type=https://ref.gs1.org/cbv/SDT-owning_party"
    "destination=https://id.gs1.org/417/0614141000005readPoint"
    "{https://ns.example.com/epcis/}myField1=AB-12"
    "{https://ns.example.com/epcis/}userExt=CD-34"
)

# tests/examples/documents/TimeStampRoundOff.jsonld
_TIMESTAMPROUNDOFF_DOC = r"""
{
  "@context": [
    "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
  ],
  "type": "EPCISDocument",
  "schemaVersion": "2.0",
  "creationDate": "2023-02-02T11:05:00.0Z",
  "epcisBody": {
    "eventList": [
      {
        "type": "ObjectEvent",
        "eventTime": "2023-02-02T11:04:03.1415Z",
        "eventTimeZoneOffset": "+01:00",
        "epcList": [
          "https://id.gs1.de/00/040123451111111110"
        ],
        "action": "OBSERVE",
        "bizStep": "shipping",
        "disposition": "in_transit",
        "readPoint": {
          "id": "https://id.gs1.de/414/4012345000115"
        }
      },
      {
        "type": "ObjectEvent",
        "eventTime": "2023-02-02T11:04:03.1414Z",
        "eventTimeZoneOffset": "+01:00",
        "epcList": [
          "https://id.gs1.de/00/040123451111111110"
        ],
        "action": "OBSERVE",
        "bizStep": "transporting",
        "readPoint": {
          "id": "geo:50.947573340894124,6.922120147375441"
        }
      },
      {
        "type": "ObjectEvent",
        "eventTime": "2023-02-12T11:04:03.1415Z",
        "eventTimeZoneOffset": "+01:00",
        "certificationInfo": "https://accreditation-council.example.org/certificate/ABC12345",
        "epcList": [
          "https://id.gs1.de/01/04012345999990/21/XYZ-1234"
        ],
        "action": "OBSERVE",
        "bizStep": "receiving",
        "disposition": "in_progress",
        "readPoint": {
          "id": "https://id.gs1.de/414/4012345000115"
        },
        "sensorElementList": [
          {
            "sensorMetadata": {
              "time": "2023-02-12T11:04:03.1007Z",
              "bizRules": "https://id.example.com/253/4012345000054987"
            },
            "sensorReport": [
              {
                "type": "Dimensionless",
                "exception": "ALARM_CONDITION",
                "coordinateReferenceSystem": "http://www.opengis.net/def/crs/EPSG/0/27700"
              }
            ]
          }
        ]
      }
    ]
  }
}
"""

_TIMESTAMPROUNDOFF_1_PREHASH = (
    "eventType=ObjectEventeventTime=2023-02-02T11:04:03.142ZeventTimeZoneOffset=+01:00"
    "epcListepc=https://id.gs1.org/00/040123451111111110action=OBSERVE"
    "bizStep=https://ref.gs1.org/cbv/BizStep-shipping"
    "disposition=https://ref.gs1.org/cbv/Disp-in_transit"
    "readPointid=https://id.gs1.org/414/4012345000115"
)

_TIMESTAMPROUNDOFF_2_PREHASH = (
    "eventType=ObjectEventeventTime=2023-02-02T11:04:03.141ZeventTimeZoneOffset=+01:00"
    "epcListepc=https://id.gs1.org/00/040123451111111110action=OBSERVE"
    "bizStep=https://ref.gs1.org/cbv/BizStep-transporting"
    "readPointid=geo:50.947573340894124,6.922120147375441"
)

_TIMESTAMPROUNDOFF_3_PREHASH = (
    "eventType=ObjectEventeventTime=2023-02-12T11:04:03.142ZeventTimeZoneOffset=+01:00"
    "epcListepc=https://id.gs1.org/01/04012345999990/21/XYZ-1234action=OBSERVE"
    "bizStep=https://ref.gs1.org/cbv/BizStep-receiving"
    "disposition=https://ref.gs1.org/cbv/Disp-in_progress"
    "readPointid=https://id.gs1.org/414/4012345000115sensorElement"
    "sensorMetadatatime=2023-02-12T11:04:03.101Z"
    "bizRules=https://id.gs1.org/253/4012345000054987sensorReport"
    "type=https://ref.gs1.org/voc/Dimensionless"
    "exception=https://ref.gs1.org/voc/ALARM_CONDITION"
    "coordinateReferenceSystem=http://www.opengis.net/def/crs/EPSG/0/27700"
)

# tests/examples/documents/TransformationEventWithUserExtensions.json
_TRANSFORMATIONEVENTWITHUSEREXTENSIONS_DOC = r"""
{
  "@context": [
    "https://ref.gs1.org/standards/epcis/epcis-context.jsonld",
    {
      "example": "http://ns.example.com/epcis/"
    },
    {
      "example2": "http://ns.example.com/epcis-2/"
    },
    {
      "example3": "http://ns.example.com/epcis-3/"
    },
    {
      "example4": "http://ns.example.com/epcis-4/"
    }
  ],
  "type": "EPCISDocument",
  "schemaVersion": "2.0",
  "creationDate": "2005-07-11T11:30:47.0Z",
  "epcisBody": {
    "eventList": [
      {
        "type": "TransformationEvent",
        "eventTime": "2020-09-29T14:00:00+02:00",
        "eventTimeZoneOffset": "+02:00",
        "errorDeclaration": {
          "declarationTime": "2020-09-29T15:00:00+02:00",
          "example:issuer": "Employee 123",
          "example3:errorCodes": {
            "example3:value1": "34",
            "example3:value44": "66"
          },
          "example:field": {
            "example:furtherData": "abcd1234"
          }
        },
        "inputQuantityList": [
          {
            "epcClass": "urn:epc:class:lgtin:4023333.055555.ABC123",
            "quantity": 25.0,
            "uom": "KGM"
          }
        ],
        "outputEPCList": [
          "urn:epc:id:sgtin:4012345.012345.987",
          "urn:epc:id:sgtin:4012345.012345.988"
        ],
        "bizStep": "commissioning",
        "readPoint": {
          "id": "urn:epc:id:sgln:4023333.00000.0",
          "example:gs1ES": "(414)4023333000000"
        },
        "bizLocation": {
          "id": "urn:epc:id:sgln:4023333.00001.12",
          "example:gs1ES": "(414)4023333000017 (254)12"
        },
        "ilmd": {
          "cbvmda:lotNumber": "LOTABC",
          "example:grading": "A",
          "example2:userMasterData": {
            "example2:sizeCode": "B-2"
          }
        },
        "sensorElementList": [
          {
            "sensorMetadata": {
              "startTime": "2019-04-01T15:00:00+01:00",
              "endTime": "2019-04-02T14:59:59.999+01:00",
              "example:someFurtherMetaData": "someText"
            },
            "sensorReport": [
              {
                "type": "Temperature",
                "minValue": 12.4,
                "maxValue": 13.8,
                "meanValue": 13.2,
                "percRank": 50.0,
                "percValue": 12.7,
                "uom": "CEL",
                "sDev": 0.41,
                "example:cv": "123"
              },
              {
                "type": "example:someSensorProperty",
                "stringValue": "someSensorOutput"
              }
            ],
            "example:furtherSensorData": {
              "example:measure1": "123.5",
              "example:measure2": "0.987"
            },
            "example:someUserField": "abc123"
          }
        ],
        "example:extension": {
          "moreExtensions": {
            "futureExtension": {
              "tag1": "1",
              "tag2": "2",
              "tag3": "3"
            }
          }
        },
        "example:internalData": {
          "example:machine": "urn:epc:id:giai:4012345.ABC",
          "example:procedure": "A-1"
        },
        "example2:furtherData": {
          "example2:assemblyLine": "2",
          "example2:workingShift": "1"
        },
        "example4:otherThings": "some text"
      }
    ]
  }
}
"""

_TRANSFORMATIONEVENTWITHUSEREXTENSIONS_PREHASH = (
    "eventType=TransformationEventeventTime=2020-09-29T12:00:00.000Z"
    "eventTimeZoneOffset=+02:00inputQuantityList"
    "quantityElementepcClass=https://id.gs1.org/01/04023333555555/10/ABC123quantity=25uom=KGM"
    "outputEPCListepc=https://id.gs1.org/01/04012345123456/21/987"
    "epc=https://id.gs1.org/01/04012345123456/21/988"
    "bizStep=https://ref.gs1.org/cbv/BizStep-commissioning"
    "readPointid=https://id.gs1.org/414/4023333000000"
    "bizLocationid=https://id.gs1.org/414/4023333000017/254/12sensorElement"
    "sensorMetadatastartTime=2019-04-01T14:00:00.000ZendTime=2019-04-02T13:59:59.999Z"
    "sensorReporttype=example:someSensorPropertystringValue=someSensorOutputsensorReport"
    "type=https://ref.gs1.org/voc/TemperatureminValue=12.4maxValue=13.8meanValue=13.2sDev=0.41percRank=50percValue=12.7uom=CEL"
    "ilmd{http://ns.example.com/epcis-2/}userMasterData"
    "{http://ns.example.com/epcis-2/}sizeCode=B-2{http://ns.example.com/epcis/}grading=A"
    "{urn:epcglobal:cbv:mda}lotNumber=LOTABCreadPoint"
    "{http://ns.example.com/epcis/}gs1ES=(414)4023333000000bizLocation"
    "{http://ns.example.com/epcis/}gs1ES=(414)4023333000017 (254)12sensorElement"
    "sensorMetadata{http://ns.example.com/epcis/}someFurtherMetaData=someTextsensorReport"
    "{http://ns.example.com/epcis/}cv=123{http://ns.example.com/epcis/}furtherSensorData"
    "{http://ns.example.com/epcis/}measure1=123.5"
    "{http://ns.example.com/epcis/}measure2=0.987"
    "{http://ns.example.com/epcis/}someUserField=abc123"
    "{http://ns.example.com/epcis-2/}furtherData"
    "{http://ns.example.com/epcis-2/}assemblyLine=2"
    "{http://ns.example.com/epcis-2/}workingShift=1"
    "{http://ns.example.com/epcis-4/}otherThings=some text"
    "{http://ns.example.com/epcis/}extensionmoreExtensionsfutureExtensiontag1=1tag2=2tag3=3"
    "{http://ns.example.com/epcis/}internalData"
    "{http://ns.example.com/epcis/}machine=https://id.gs1.org/8004/4012345ABC"
    "{http://ns.example.com/epcis/}procedure=A-1"
)

# tests/examples/documents/epcisDocWithAllGS1Keys.jsonld
_EPCISDOCWITHALLGS1KEYS_DOC = r"""
{
  "@context": [
    "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
  ],
  "type": "EPCISDocument",
  "schemaVersion": "2.0",
  "creationDate": "2023-03-27T11:30:00.0Z",
  "epcisBody": {
    "eventList": [
      {
        "type": "ObjectEvent",
        "eventTime": "2023-03-27T11:30:00.0Z",
        "eventTimeZoneOffset": "+01:00",
        "epcList": [
          "urn:epc:id:sgtin:4012345.012345.12",
          "urn:epc:id:sscc:4012345.0000000333",
          "https://id.gs1.org/00/040123450000003338",
          "urn:epc:id:grai:4012345.66666.87",
          "urn:epc:id:giai:4012345.AAbb",
          "urn:epc:id:gsrn:4012345.9876540000",
          "urn:epc:id:gsrnp:4012345.0000098765",
          "urn:epc:id:gdti:4012345.55555.98",
          "urn:epc:id:cpi:4012345.ABC.123",
          "urn:epc:id:sgcn:4012345.99999.44",
          "urn:epc:id:ginc:4012345.333",
          "urn:epc:id:gsin:4012345.999987654",
          "urn:epc:id:itip:4012345.012345.01.02.999",
          "urn:epc:id:upui:4012345.012345.AB12"
        ],
        "quantityList": [
          {
            "epcClass": "urn:epc:class:lgtin:4054739.099914.20160711"
          },
          {
            "epcClass": "urn:epc:idpat:sgtin:4054739.099914.*"
          },
          {
            "epcClass": "urn:epc:idpat:grai:4012345.66666.*"
          },
          {
            "epcClass": "urn:epc:idpat:gdti:4012345.55555.*"
          },
          {
            "epcClass": "urn:epc:idpat:sgcn:4012345.99999.*"
          },
          {
            "epcClass": "urn:epc:idpat:cpi:4012345.ABC.*"
          },
          {
            "epcClass": "urn:epc:idpat:itip:4012345.012345.01.02.*"
          }
        ],
        "action": "OBSERVE",
        "bizStep": "other",
        "readPoint": {
          "id": "urn:epc:id:sgln:4012345.00011.987"
        }
      }
    ]
  }
}
"""

_EPCISDOCWITHALLGS1KEYS_PREHASH = (
    "eventType=ObjectEventeventTime=2023-03-27T11:30:00.000ZeventTimeZoneOffset=+01:00"
    "epcListepc=https://id.gs1.org/00/040123450000003338"
    "epc=https://id.gs1.org/00/040123450000003338"
    "epc=https://id.gs1.org/01/04012345123456/21/12"
    "epc=https://id.gs1.org/01/04012345123456/235/AB12"
    "epc=https://id.gs1.org/253/401234555555498epc=https://id.gs1.org/255/401234599999044"
    "epc=https://id.gs1.org/401/4012345333epc=https://id.gs1.org/402/40123459999876541"
    "epc=https://id.gs1.org/8003/0401234566666387epc=https://id.gs1.org/8004/4012345AAbb"
    "epc=https://id.gs1.org/8006/040123451234560102/21/999"
    "epc=https://id.gs1.org/8010/4012345ABC/8011/123"
    "epc=https://id.gs1.org/8017/401234500000987658"
    "epc=https://id.gs1.org/8018/401234598765400000quantityList"
    "quantityElementepcClass=https://id.gs1.org/01/04054739999148"
    "quantityElementepcClass=https://id.gs1.org/01/04054739999148/10/20160711"
    "quantityElementepcClass=https://id.gs1.org/253/4012345555554"
    "quantityElementepcClass=https://id.gs1.org/255/4012345999990"
    "quantityElementepcClass=https://id.gs1.org/8003/04012345666663"
    "quantityElementepcClass=https://id.gs1.org/8006/040123451234560102"
    "quantityElementepcClass=https://id.gs1.org/8010/4012345ABCaction=OBSERVE"
    "bizStep=https://ref.gs1.org/cbv/BizStep-other"
    "readPointid=https://id.gs1.org/414/4012345000115/254/987"
)

# tests/examples/documents/epcisDocWithSensorComponent.jsonld
_EPCISDOCWITHSENSORCOMPONENT_DOC = r"""
{
  "@context": [
    "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
    {
      "cbv": "https://ref.gs1.org/cbv/"
    }
  ],
  "type": "EPCISDocument",
  "schemaVersion": "2.0",
  "creationDate": "2022-04-07T15:00:00.000+01:00",
  "epcisBody": {
    "eventList": [
      {
        "type": "ObjectEvent",
        "eventTime": "2022-04-07T10:00:00.000Z",
        "eventTimeZoneOffset": "+01:00",
        "epcList": [
          "https://id.example.com/8003/040123450007718765"
        ],
        "action": "OBSERVE",
        "bizStep": "sensor_reporting",
        "readPoint": {
          "id": "https://id.example.com/414/4012345000054"
        },
        "sensorElementList": [
          {
            "sensorReport": [
              {
                "type": "gs1:Angle",
                "value": 42.698334,
                "component": "cbv:Comp-latitude",
                "uom": "DD",
                "coordinateReferenceSystem": "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
              },
              {
                "type": "gs1:Angle",
                "value": 23.319941,
                "component": "cbv:Comp-longitude",
                "uom": "DD",
                "coordinateReferenceSystem": "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
              }
            ]
          }
        ]
      }
    ]
  }
}
"""

_EPCISDOCWITHSENSORCOMPONENT_PREHASH = (
    "eventType=ObjectEventeventTime=2022-04-07T10:00:00.000ZeventTimeZoneOffset=+01:00"
    "epcListepc=https://id.gs1.org/8003/040123450007718765action=OBSERVE"
    "bizStep=https://ref.gs1.org/cbv/BizStep-sensor_reporting"
    "readPointid=https://id.gs1.org/414/4012345000054sensorElementsensorReport"
    "type=https://ref.gs1.org/voc/Angle"
    "value=23.319941component=https://ref.gs1.org/cbv/Comp-longitudeuom=DD"
    "coordinateReferenceSystem=http://www.opengis.net/def/crs/OGC/1.3/CRS84sensorReport"
    "type=https://ref.gs1.org/voc/Angle"
    "value=42.698334component=https://ref.gs1.org/cbv/Comp-latitudeuom=DD"
    "coordinateReferenceSystem=http://www.opengis.net/def/crs/OGC/1.3/CRS84"
)

# tests/examples/documents/epclist_normalisation.jsonld
_EPCLIST_NORMALISATION_DOC = r"""
{
  "@context": [
    "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
  ],
  "id": "https://id.example.org/document1",
  "type": "EPCISDocument",
  "schemaVersion": "2.0",
  "creationDate": "2022-02-17T11:30:47.0Z",
  "epcisBody": {
    "eventList": [
      {
        "type": "ObjectEvent",
        "eventTime": "2019-04-02T15:00:00.000+01:00",
        "eventTimeZoneOffset": "+01:00",
        "epcList": [
          "urn:epc:id:sgtin:4012345.011111.9876",
          "urn:epc:id:sgtin:4012345.011111.98%22",
          "urn:epc:id:sgtin:415056789012.0.987654",
          "urn:epc:id:sgtin:0614141.812345.6789%2F%26%25%22!%3F()",
          "urn:epc:id:sscc:4012345.3111111111",
          "urn:epc:id:sgln:4012345.00005.122",
          "urn:epc:id:sgln:4012345.00005.0",
          "urn:epc:id:grai:4012345.00022.334455",
          "urn:epc:id:giai:4012345.ABC345",
          "urn:epc:id:gsrn:4012345.0000006765",
          "urn:epc:id:gsrnp:4012345.0000000007",
          "urn:epc:id:gdti:4012345.00009.PO-4711",
          "urn:epc:id:gdti:987659999999..9",
          "urn:epc:id:cpi:0614141.11111111111111-A%23%2F.1234",
          "urn:epc:id:ginc:0614141.xyz47%2F11",
          "urn:epc:id:gsin:4012345.222333444",
          "urn:epc:id:itip:4012345.011111.01.02.987",
          "urn:epc:id:upui:1234567.098765.51qIgY)%3C%26Jp3*j7'SDB",
          "urn:epc:id:pgln:4000001.00000",
          "urn:epc:id:pgln:999999999999.",
          "urn:epc:class:lgtin:4012345.012345.Lot987",
          "https://id.gs1.org/gtin/09780345418913",
          "https://example.com/gtin/09780345418913/21/765tz?abc=211121"
        ],
        "action": "OBSERVE",
        "bizStep": "inspecting",
        "readPoint": {
          "id": "urn:epc:id:sgln:4012345.00005.0"
        }
      }
    ]
  }
}
"""

_EPCLIST_NORMALISATION_PREHASH = (
    "eventType=ObjectEventeventTime=2019-04-02T14:00:00.000ZeventTimeZoneOffset=+01:00"
    "epcListepc=https://id.gs1.org/00/340123451111111111"
    "epc=https://id.gs1.org/01/01234567987651/235/51qIgY)%3C%26Jp3*j7'SDB"
    "epc=https://id.gs1.org/01/04012345111118/21/98%22"
    "epc=https://id.gs1.org/01/04012345111118/21/9876"
    "epc=https://id.gs1.org/01/04012345123456/10/Lot987"
    "epc=https://id.gs1.org/01/04150567890128/21/987654"
    "epc=https://id.gs1.org/01/09780345418913"
    "epc=https://id.gs1.org/01/09780345418913/21/765tz"
    "epc=https://id.gs1.org/01/80614141123458/21/6789%2F%26%25%22!%3F()"
    "epc=https://id.gs1.org/253/4012345000092PO-4711"
    "epc=https://id.gs1.org/253/98765999999929"
    "epc=https://id.gs1.org/401/0614141xyz47%2F11"
    "epc=https://id.gs1.org/402/40123452223334442epc=https://id.gs1.org/414/4012345000054"
    "epc=https://id.gs1.org/414/4012345000054/254/122"
    "epc=https://id.gs1.org/417/4000001000005epc=https://id.gs1.org/417/9999999999994"
    "epc=https://id.gs1.org/8003/04012345000221334455"
    "epc=https://id.gs1.org/8004/4012345ABC345"
    "epc=https://id.gs1.org/8006/040123451111180102/21/987"
    "epc=https://id.gs1.org/8010/061414111111111111111-A%23%2F/8011/1234"
    "epc=https://id.gs1.org/8017/401234500000000074"
    "epc=https://id.gs1.org/8018/401234500000067657action=OBSERVE"
    "bizStep=https://ref.gs1.org/cbv/BizStep-inspecting"
    "readPointid=https://id.gs1.org/414/4012345000054"
)


@dataclass(frozen=True)
class Vector:
    """One event of an official document and what the reference expects for it."""

    name: str
    document: str
    index: int
    hash: str
    prehash: str | None = None

    @property
    def parsed(self) -> dict[str, Any]:
        return json.loads(self.document)

    @property
    def context(self) -> Any:
        return self.parsed["@context"]

    @property
    def event(self) -> dict[str, Any]:
        return self.parsed["epcisBody"]["eventList"][self.index]


def _ni(hex_digest: str) -> str:
    return f"ni:///sha-256;{hex_digest}?ver=CBV2.0"


OFFICIAL_VECTORS = (
    Vector(
        "ReferenceEventHashAlgorithm",
        _REFERENCEEVENTHASHALGORITHM_DOC,
        0,
        _ni("6ae96341e0acc6d7a261364751f60e68278a81cdf51da0abb6b4e617014e39d7"),
    ),
    Vector(
        "ReferenceEventHashAlgorithm2",
        _REFERENCEEVENTHASHALGORITHM2_DOC,
        0,
        _ni("271565c346ae2fb28c4583c4dca4ab4772d465eb4e0b6e548d77d8b49377d95c"),
        _REFERENCEEVENTHASHALGORITHM2_PREHASH,
    ),
    Vector(
        "ReferenceEventHashAlgorithm3",
        _REFERENCEEVENTHASHALGORITHM3_DOC,
        0,
        _ni("3ae14c02c4bdc220cc31942cf804f6845eb8dec96ba6483391c92a9b165f9329"),
        _REFERENCEEVENTHASHALGORITHM3_PREHASH,
    ),
    Vector(
        "TimeStampRoundOff#1",
        _TIMESTAMPROUNDOFF_DOC,
        0,
        _ni("af7658e711574363633f20b3dadc7bc4c13c6f612cf96d95e03c421c0e58f3c6"),
        _TIMESTAMPROUNDOFF_1_PREHASH,
    ),
    Vector(
        "TimeStampRoundOff#2",
        _TIMESTAMPROUNDOFF_DOC,
        1,
        _ni("0550df44527332c1fe417c5837fe61b9e71eaa93307b88519dac549bf2d4dcf9"),
        _TIMESTAMPROUNDOFF_2_PREHASH,
    ),
    Vector(
        "TimeStampRoundOff#3",
        _TIMESTAMPROUNDOFF_DOC,
        2,
        _ni("bf052637920f56c28bd6bc4ce10bb296203fcddc543f1e293d5a77b07592dcec"),
        _TIMESTAMPROUNDOFF_3_PREHASH,
    ),
    Vector(
        "TransformationEventWithUserExtensions",
        _TRANSFORMATIONEVENTWITHUSEREXTENSIONS_DOC,
        0,
        _ni("dca180f4e6005d4b6a6408a8d143977ca2e4f3e72048d7aa03b4df4055d484f9"),
        _TRANSFORMATIONEVENTWITHUSEREXTENSIONS_PREHASH,
    ),
    Vector(
        "epcisDocWithAllGS1Keys",
        _EPCISDOCWITHALLGS1KEYS_DOC,
        0,
        _ni("40744f32beff53a4bf5bb5956d465cb52de5bbcc9f131409d8efb903b04d9351"),
        _EPCISDOCWITHALLGS1KEYS_PREHASH,
    ),
    Vector(
        "epcisDocWithSensorComponent",
        _EPCISDOCWITHSENSORCOMPONENT_DOC,
        0,
        _ni("14faa21345eb49fa31e5578aed52a2c291b7dc8ded0d53c88135955173ea91fc"),
        _EPCISDOCWITHSENSORCOMPONENT_PREHASH,
    ),
    Vector(
        "epclist_normalisation",
        _EPCLIST_NORMALISATION_DOC,
        0,
        _ni("028e1a1a0aef2be946fa8026eec361159033cab9d4da3f94bee1d58070b20198"),
        _EPCLIST_NORMALISATION_PREHASH,
    ),
)

WITH_PREHASH = [v for v in OFFICIAL_VECTORS if v.prehash is not None]

# Official CBV 2.0 hashes of the reference project's "*_all_possible_fields"
# documents; the conformance examples below hold identical copies.
EXAMPLES_DIR = Path(
    os.environ.get("NONGSAN_EPCIS_EXAMPLES", str(CONFORMANCE / "epcis" / "examples"))
)
ALL_FIELDS_HASHES = {
    "ObjectEvent_all_possible_fields.json": _ni(
        "9811bfb2672e9c3a0f6151be339d22b60db375c8b23d2740f6137cc6539f0639"
    ),
    "AggregationEvent_all_possible_fields.json": _ni(
        "41cf5d2be6b6926acc531597e43932eb4b9b23926ccb6ce08c882bda7a74d1a8"
    ),
    "TransactionEvent_all_possible_fields.json": _ni(
        "4a85d64a96409f0c57baed258666b26d83e6690d204a8aaed4c7e2624d8b0c81"
    ),
    "TransformationEvent_all_possible_fields.json": _ni(
        "529cc54b8cf9d8664208cc6c77473274d8c2dd473469920a7d09a814623f52cc"
    ),
    "AssociationEvent_all_possible_fields.json": _ni(
        "3dada0cdabe84618e9f0b842031159cb49534f487d5714cac9cfd647bf5f6c54"
    ),
}


def _ids(vectors: list[Vector] | tuple[Vector, ...]) -> list[str]:
    return [v.name for v in vectors]


@pytest.mark.parametrize("vector", WITH_PREHASH, ids=_ids(WITH_PREHASH))
def test_expected_prehash_and_hash_agree(vector: Vector) -> None:
    # Guards the copied test data itself, independently of the module.
    assert vector.prehash is not None
    assert _ni(hashlib.sha256(vector.prehash.encode("utf-8")).hexdigest()) == vector.hash


@pytest.mark.parametrize("vector", WITH_PREHASH, ids=_ids(WITH_PREHASH))
def test_official_prehash(vector: Vector) -> None:
    assert prehash_string(vector.event, vector.context) == vector.prehash


@pytest.mark.parametrize("vector", OFFICIAL_VECTORS, ids=_ids(OFFICIAL_VECTORS))
def test_official_hash(vector: Vector) -> None:
    assert event_hash(vector.event, vector.context) == vector.hash


@pytest.mark.parametrize("file_name", sorted(ALL_FIELDS_HASHES))
def test_official_hash_all_possible_fields(file_name: str) -> None:
    path = EXAMPLES_DIR / file_name
    if not path.is_file():
        pytest.skip(f"{path} not available")
    document = json.loads(path.read_text(encoding="utf-8"))
    assert document_event_hashes(document) == [ALL_FIELDS_HASHES[file_name]]


def test_document_helper_matches_per_event_hashes() -> None:
    document = json.loads(_TIMESTAMPROUNDOFF_DOC)
    expected = [v.hash for v in OFFICIAL_VECTORS if v.name.startswith("TimeStampRoundOff")]
    assert document_event_hashes(document) == expected


# ---------------------------------------------------------------------------
# A nongsan-style event used by the property tests
# ---------------------------------------------------------------------------

NONGSAN_CONTEXT = [
    "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
    {"ns": "https://nongsan.vn/epcis/"},
]


def nongsan_event(**overrides: Any) -> dict[str, Any]:
    """Harvest and packing of a dragon fruit lot at a Tien Giang cooperative."""
    event: dict[str, Any] = {
        "type": "ObjectEvent",
        "eventTime": "2024-07-15T14:30:00.000+07:00",
        "eventTimeZoneOffset": "+07:00",
        "epcList": [
            "urn:epc:id:sgtin:8934588.001211.A0001",
            "urn:epc:id:sgtin:8934588.001211.A0002",
            "https://id.nongsan.vn/01/08934588012112/21/A0003",
        ],
        "quantityList": [
            {
                "epcClass": "urn:epc:class:lgtin:8934588.001211.LO-2024",
                "quantity": 120.5,
                "uom": "KGM",
            },
            {"epcClass": "urn:epc:idpat:sgtin:8934588.001228.*", "quantity": 40},
        ],
        "action": "ADD",
        "bizStep": "commissioning",
        "disposition": "active",
        "readPoint": {"id": "urn:epc:id:sgln:8934588.00001.0", "ns:shed": "B2"},
        "bizLocation": {"id": "urn:epc:id:sgln:8934588.00001.0"},
        "bizTransactionList": [
            {"type": "po", "bizTransaction": "urn:epc:id:gdti:8934588.00002.77"},
            {"type": "inv", "bizTransaction": "https://nongsan.vn/invoice/2024-0715"},
        ],
        "sourceList": [{"type": "owning_party", "source": "urn:epc:id:pgln:8934588.00003"}],
        "destinationList": [
            {"type": "location", "destination": "urn:epc:id:sgln:8934588.00004.0"},
            {"type": "possessing_party", "destination": "urn:epc:id:pgln:8934588.00004"},
        ],
        "sensorElementList": [
            {
                "sensorMetadata": {"time": "2024-07-15T14:00:00+07:00", "ns:logger": "TG-7"},
                "sensorReport": [
                    {"type": "Temperature", "value": 29.5, "uom": "CEL"},
                    {"type": "RelativeHumidity", "value": 81, "uom": "A93"},
                ],
            }
        ],
        "ilmd": {
            "cbvmda:countryOfOrigin": "VN",
            "ns:variety": "Ruot do",
            "ns:pickers": ["Lan", "Minh", "Tuan"],
        },
        "ns:cooperative": {"ns:name": "HTX Cho Gao", "ns:members": [12, 7]},
    }
    event.update(overrides)
    return event


def _shuffled(value: Any, rnd: random.Random) -> Any:
    """Same JSON value with every object's key order and every array's order permuted."""
    if isinstance(value, dict):
        items = [(k, _shuffled(v, rnd)) for k, v in value.items()]
        rnd.shuffle(items)
        return dict(items)
    if isinstance(value, list):
        items = [_shuffled(v, rnd) for v in value]
        rnd.shuffle(items)
        return items
    return value


# ---------------------------------------------------------------------------
# Invariance properties
# ---------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(vector=st.sampled_from(OFFICIAL_VECTORS), rnd=st.randoms(use_true_random=False))
def test_hash_ignores_key_and_list_order_of_official_events(
    vector: Vector, rnd: random.Random
) -> None:
    assert event_hash(_shuffled(vector.event, rnd), vector.context) == vector.hash


@settings(max_examples=60, deadline=None)
@given(rnd=st.randoms(use_true_random=False))
def test_hash_ignores_key_and_list_order(rnd: random.Random) -> None:
    event = nongsan_event()
    assert event_hash(_shuffled(event, rnd), NONGSAN_CONTEXT) == event_hash(event, NONGSAN_CONTEXT)


def test_hash_does_not_modify_the_event() -> None:
    event = nongsan_event()
    before = copy.deepcopy(event)
    event_hash(event, NONGSAN_CONTEXT)
    assert event == before


@pytest.mark.parametrize(
    "biz_step",
    [
        "urn:epcglobal:cbv:bizstep:commissioning",
        "cbv:BizStep-commissioning",
        "https://ref.gs1.org/cbv/BizStep-commissioning",
        "  commissioning ",
    ],
)
def test_short_and_long_biz_step_give_same_hash(biz_step: str) -> None:
    short = event_hash(nongsan_event(bizStep="commissioning"), NONGSAN_CONTEXT)
    assert event_hash(nongsan_event(bizStep=biz_step), NONGSAN_CONTEXT) == short
    assert "bizStep=https://ref.gs1.org/cbv/BizStep-commissioning" in prehash_string(
        nongsan_event(bizStep=biz_step), NONGSAN_CONTEXT
    )


@pytest.mark.parametrize(
    "disposition",
    ["urn:epcglobal:cbv:disp:active", "cbv:Disp-active", "https://ref.gs1.org/cbv/Disp-active"],
)
def test_short_and_long_disposition_give_same_hash(disposition: str) -> None:
    short = event_hash(nongsan_event(disposition="active"), NONGSAN_CONTEXT)
    assert event_hash(nongsan_event(disposition=disposition), NONGSAN_CONTEXT) == short


def test_unknown_bare_biz_step_is_not_turned_into_a_cbv_uri() -> None:
    # Only the words the EPCIS context defines are standard vocabulary.
    text = prehash_string(nongsan_event(bizStep="drying"), NONGSAN_CONTEXT)
    assert "bizStep=drying" in text


def test_urn_and_digital_link_identifiers_give_same_hash() -> None:
    urn_event = nongsan_event(epcList=["urn:epc:id:sgtin:8934588.001211.A0001"])
    dl_event = nongsan_event(epcList=["https://qr.nongsan.vn/01/8934588012112/21/A0001?src=qr"])
    assert event_hash(urn_event, NONGSAN_CONTEXT) == event_hash(dl_event, NONGSAN_CONTEXT)


def test_same_instant_in_another_offset_gives_same_hash() -> None:
    local = nongsan_event(eventTime="2024-07-15T14:30:00+07:00")
    utc = nongsan_event(eventTime="2024-07-15T07:30:00Z")
    assert event_hash(local, NONGSAN_CONTEXT) == event_hash(utc, NONGSAN_CONTEXT)
    assert "eventTime=2024-07-15T07:30:00.000Z" in prehash_string(local, NONGSAN_CONTEXT)


@settings(max_examples=100, deadline=None)
@given(
    instant=st.datetimes(
        min_value=datetime(1971, 1, 1), max_value=datetime(2099, 12, 31)
    ).map(lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000, tzinfo=timezone.utc)),
    quarter_hours=st.integers(min_value=-14 * 4, max_value=14 * 4),
)
def test_any_offset_of_an_instant_gives_same_hash(instant: datetime, quarter_hours: int) -> None:
    zone = timezone(timedelta(minutes=15 * quarter_hours))
    written_local = instant.astimezone(zone).isoformat(timespec="milliseconds")
    written_utc = instant.strftime("%Y-%m-%dT%H:%M:%S.") + f"{instant.microsecond // 1000:03d}Z"
    assert event_hash(nongsan_event(eventTime=written_local), NONGSAN_CONTEXT) == event_hash(
        nongsan_event(eventTime=written_utc), NONGSAN_CONTEXT
    )


@settings(max_examples=60, deadline=None)
@given(seconds=st.integers(min_value=-86_400 * 365, max_value=86_400 * 365).filter(bool))
def test_moving_event_time_changes_hash(seconds: int) -> None:
    base = datetime(2024, 7, 15, 7, 30, tzinfo=timezone.utc)
    moved = (base + timedelta(seconds=seconds)).isoformat()
    assert event_hash(nongsan_event(eventTime=moved), NONGSAN_CONTEXT) != event_hash(
        nongsan_event(eventTime=base.isoformat()), NONGSAN_CONTEXT
    )


def test_one_second_later_changes_hash() -> None:
    a = nongsan_event(eventTime="2024-07-15T14:30:00+07:00")
    b = nongsan_event(eventTime="2024-07-15T14:30:01+07:00")
    assert event_hash(a, NONGSAN_CONTEXT) != event_hash(b, NONGSAN_CONTEXT)


def _with_quantity(quantity: Any) -> dict[str, Any]:
    event = nongsan_event()
    event["quantityList"][0]["quantity"] = quantity
    return event


def test_quantity_change_changes_hash() -> None:
    assert event_hash(_with_quantity(120.5), NONGSAN_CONTEXT) != event_hash(
        _with_quantity(120.6), NONGSAN_CONTEXT
    )


@settings(max_examples=100, deadline=None)
@given(
    a=st.decimals(min_value=0, max_value=10**6, places=3, allow_nan=False),
    b=st.decimals(min_value=0, max_value=10**6, places=3, allow_nan=False),
)
def test_different_quantities_give_different_hashes(a: Any, b: Any) -> None:
    same = a == b
    hash_a = event_hash(_with_quantity(float(a)), NONGSAN_CONTEXT)
    hash_b = event_hash(_with_quantity(float(b)), NONGSAN_CONTEXT)
    assert (hash_a == hash_b) == same


@pytest.mark.parametrize("quantity", [25, 25.0, "25", "25.000", "+25"])
def test_numbers_lose_trailing_zeros(quantity: Any) -> None:
    assert "quantity=25uom=KGM" in prehash_string(_with_quantity(quantity), NONGSAN_CONTEXT)


@pytest.mark.parametrize(
    "field, value",
    [
        ("eventID", "urn:uuid:2b8c7bd6-5b2d-4e0f-9d67-6cdeb2e1c6a3"),
        ("recordTime", "2024-07-15T08:00:00Z"),
        ("certificationInfo", "https://vietgap.example.vn/cert/123"),
        (
            "errorDeclaration",
            {"declarationTime": "2024-07-16T08:00:00Z", "reason": "did_not_occur"},
        ),
        ("comment", "typed in by the cooperative secretary"),
        ("@context", [{"ns2": "https://other.example/"}]),
    ],
)
def test_excluded_fields_do_not_change_hash(field: str, value: Any) -> None:
    plain = nongsan_event()
    assert event_hash(nongsan_event(**{field: value}), NONGSAN_CONTEXT) == event_hash(
        plain, NONGSAN_CONTEXT
    )


def test_extension_prefix_name_does_not_matter_but_namespace_does() -> None:
    event = {"type": "ObjectEvent", "eventTime": "2024-07-15T07:30:00Z", "action": "OBSERVE"}
    a = event_hash({**event, "a:grade": "A"}, {"a": "https://nongsan.vn/epcis/"})
    b = event_hash({**event, "b:grade": "A"}, {"b": "https://nongsan.vn/epcis/"})
    c = event_hash({**event, "a:grade": "A"}, {"a": "https://other.example/epcis/"})
    assert a == b != c


def test_event_level_context_declares_prefixes() -> None:
    event = {
        "type": "ObjectEvent",
        "@context": [{"ns": "https://nongsan.vn/epcis/"}],
        "eventTime": "2024-07-15T07:30:00Z",
        "action": "OBSERVE",
        "ns:grade": "A",
    }
    assert prehash_string(event).endswith("{https://nongsan.vn/epcis/}grade=A")


def test_user_extensions_in_standard_fields_come_after_the_standard_part() -> None:
    text = prehash_string(nongsan_event(), NONGSAN_CONTEXT)
    standard, _, appended = text.partition("ilmd")
    assert "{https://nongsan.vn/epcis/}" not in standard
    assert appended.index("readPoint{https://nongsan.vn/epcis/}shed=B2") < appended.index(
        "sensorElementsensorMetadata{https://nongsan.vn/epcis/}logger=TG-7"
    )


def test_event_without_type_is_rejected() -> None:
    with pytest.raises(ValueError):
        event_hash({"eventTime": "2024-07-15T07:30:00Z", "action": "OBSERVE"})


# ---------------------------------------------------------------------------
# Value canonicalisation
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "written, canonical",
    [
        ("2023-02-02T11:04:03.1415Z", "2023-02-02T11:04:03.142Z"),
        ("2023-02-02T11:04:03.1425Z", "2023-02-02T11:04:03.143Z"),  # half-up, as the spec says
        ("2023-02-02T11:04:03.1414999Z", "2023-02-02T11:04:03.141Z"),
        ("2023-12-31T23:59:59.9996Z", "2024-01-01T00:00:00.000Z"),
        ("2024-07-15T14:30:00+07:00", "2024-07-15T07:30:00.000Z"),
        ("2024-07-15T00:30:00.5-05:30", "2024-07-15T06:00:00.500Z"),
    ],
)
def test_event_time_canonical_form(written: str, canonical: str) -> None:
    event = {"type": "ObjectEvent", "eventTime": written, "action": "OBSERVE"}
    assert prehash_string(event) == f"eventType=ObjectEventeventTime={canonical}action=OBSERVE"


@pytest.mark.parametrize(
    "uri, canonical",
    [
        # Pairs taken from the official vectors above.
        ("urn:epc:id:sgtin:4012345.011111.9876", "https://id.gs1.org/01/04012345111118/21/9876"),
        ("urn:epc:id:sgtin:0614141.107346.2018", "https://id.gs1.org/01/10614141073464/21/2018"),
        (
            "urn:epc:class:lgtin:4012345.012345.998877",
            "https://id.gs1.org/01/04012345123456/10/998877",
        ),
        ("urn:epc:idpat:sgtin:4012345.098765.*", "https://id.gs1.org/01/04012345987652"),
        ("urn:epc:id:sgln:4012345.00011.0", "https://id.gs1.org/414/4012345000115"),
        ("urn:epc:id:sgln:0012345.11111.400", "https://id.gs1.org/414/0012345111112/254/400"),
        ("urn:epc:id:sscc:0614141.1234567890", "https://id.gs1.org/00/106141412345678908"),
        ("urn:epc:id:pgln:4012345.00225", "https://id.gs1.org/417/4012345002256"),
        ("urn:epc:id:giai:4000001.111", "https://id.gs1.org/8004/4000001111"),
        ("urn:epc:id:grai:4012345.55555.987", "https://id.gs1.org/8003/04012345555554987"),
        ("urn:epc:id:gdti:0614141.00001.1618034", "https://id.gs1.org/253/06141410000121618034"),
        ("urn:epc:id:gsrn:0614141.0000010253", "https://id.gs1.org/8018/061414100000102534"),
        # Digital Link on other domains, with convenience names and extras.
        ("https://id.gs1.de/00/040123451111111110", "https://id.gs1.org/00/040123451111111110"),
        (
            "https://example.com/gtin/09780345418913/21/765tz?abc=1",
            "https://id.gs1.org/01/09780345418913/21/765tz",
        ),
        (  # GTIN-13 padded; the lot is dropped when a serial is present
            "https://qr.nongsan.vn/01/8934588012112/10/LO-1/21/A1",
            "https://id.gs1.org/01/08934588012112/21/A1",
        ),
        (  # the consumer product variant never identifies
            "https://qr.nongsan.vn/01/08934588012112/22/V2/10/LO-1",
            "https://id.gs1.org/01/08934588012112/10/LO-1",
        ),
        (
            "https://example.com/414/4012345000115/254/7#x",
            "https://id.gs1.org/414/4012345000115/254/7",
        ),
    ],
)
def test_canonical_digital_link(uri: str, canonical: str) -> None:
    assert canonical_digital_link(uri) == canonical


@pytest.mark.parametrize(
    "uri",
    [
        "https://www.ncbi.nlm.nih.gov/taxonomy/1126011",
        "https://ref.gs1.org/cbv/BizStep-receiving",
        "https://example.com/01/not-a-gtin",
        "geo:10.36,106.36",
        "urn:epc:id:sgtin:123.45.6",  # company prefix too short
    ],
)
def test_non_gs1_uris_are_left_alone(uri: str) -> None:
    assert canonical_digital_link(uri) is None


def _check_digit_oracle(body: str) -> str:
    """GS1 check digit, written independently: pad to 17, weights 3,1,... from the left."""
    padded = body.rjust(17, "0")
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(padded))
    return str(-total % 10)


SERIAL_CHARS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-._"


@settings(max_examples=200, deadline=None)
@given(
    company_length=st.integers(min_value=6, max_value=12),
    digits=st.text(alphabet="0123456789", min_size=13, max_size=13),
    serial=st.text(alphabet=SERIAL_CHARS, min_size=1, max_size=20),
)
def test_sgtin_urn_and_digital_link_agree(company_length: int, digits: str, serial: str) -> None:
    company, item = digits[1 : company_length + 1], digits[0] + digits[company_length + 1 :]
    gtin = digits + _check_digit_oracle(digits)
    urn = f"urn:epc:id:sgtin:{company}.{item}.{serial}"
    expected = f"https://id.gs1.org/01/{gtin}/21/{serial}"
    assert canonical_digital_link(urn) == expected
    assert canonical_digital_link(f"https://qr.nongsan.vn/01/{gtin}/21/{serial}?x=1") == expected


# ---------------------------------------------------------------------------
# Shared conformance examples: every event must hash without error
# ---------------------------------------------------------------------------

EXAMPLE_FILES = sorted(EXAMPLES_DIR.glob("*.json")) if EXAMPLES_DIR.is_dir() else []


def _events_of(document: dict[str, Any]) -> list[dict[str, Any]]:
    body = document["epcisBody"]
    if "eventList" in body:
        return body["eventList"]
    return body["queryResults"]["resultsBody"]["eventList"]


@pytest.mark.skipif(not EXAMPLE_FILES, reason=f"no EPCIS examples in {EXAMPLES_DIR}")
@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=[p.name for p in EXAMPLE_FILES])
def test_every_conformance_example_hashes(path: Path) -> None:
    document = json.loads(path.read_text(encoding="utf-8"))
    events = _events_of(document)
    assert events, "example without events"
    hashes = [event_hash(event, document.get("@context")) for event in events]
    for value in hashes:
        assert HASH_FORMAT.fullmatch(value), value
    assert document_event_hashes(document) == hashes
