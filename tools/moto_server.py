"""moto's server with one fidelity fix: ListKeys pages as AWS pages it.

moto 5 ignores ListKeys' `Limit` and `Marker` and returns every key in one page, so the rule's
paging could not be exercised end to end. This keeps moto's behaviour otherwise unchanged.
Usage: the same arguments as `moto_server` (python tools/moto_server.py -H 127.0.0.1 -p 5000).
"""

from __future__ import annotations

import json

from moto.kms.responses import KmsResponse
from moto.server import main


def list_keys(self) -> str:
    keys = list(self.kms_backend.list_keys())
    limit = int(self._get_param("Limit") or 1000)
    start = int(self._get_param("Marker") or 0)
    end = start + limit
    more = end < len(keys)
    return json.dumps(
        {
            "Keys": [{"KeyArn": key.arn, "KeyId": key.id} for key in keys[start:end]],
            "NextMarker": str(end) if more else None,
            "Truncated": more,
        }
    )


KmsResponse.list_keys = list_keys

if __name__ == "__main__":
    main()
