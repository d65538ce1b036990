"""Print the CloudFormation that AWS's SAM transform makes of a template, as JSON.

Run with the SAM CLI's own interpreter (`.venv-sam/bin/python`), which has `samtranslator`; the
project's venv deliberately does not (its pins clash). Offline: no credentials, no network.
Usage: sam_transform.py TEMPLATE
"""

import json
import os
import sys
from pathlib import Path
from typing import Any

from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse


class _NoManagedPolicies:
    """The template names no managed policies by name, so the loader is never asked to look one up."""

    def load(self) -> dict[str, str]:
        return {}


def main(path: str) -> None:
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")  # the transform asks boto for a region
    template: dict[str, Any] = yaml_parse(Path(path).read_text())
    # Local CodeUri paths become S3 locations at package time; the transform wants that form (as in
    # `sam validate`), and the code location does not change the resources it generates.
    template.get("Globals", {}).get("Function", {}).pop("CodeUri", None)
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = "s3://placeholder-bucket/code.zip"
    pseudo = {
        "AWS::Region": "us-east-1",
        "AWS::AccountId": "123456789012",
        "AWS::Partition": "aws",
        "AWS::StackName": "lambda-tuner",
    }
    out = transform(template, pseudo, _NoManagedPolicies())
    json.dump(out, sys.stdout, indent=1, default=str)


if __name__ == "__main__":
    main(sys.argv[1])
