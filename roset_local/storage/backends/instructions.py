"""Setup steps per provider for POST /v1/connections/start (no role assumption: on-prem uses keys)."""

from __future__ import annotations

import json
from typing import Any

from roset_local.storage.backends.spec import provider_info


def s3_policy(bucket: str, writable: bool = True) -> dict[str, Any]:
    """A least-privilege IAM policy: list the one bucket, read (and write, for signed uploads) its objects."""
    object_actions = ["s3:GetObject"] + (["s3:PutObject"] if writable else [])
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "RosetList", "Effect": "Allow", "Action": ["s3:ListBucket", "s3:GetBucketLocation"],
             "Resource": f"arn:aws:s3:::{bucket}"},
            {"Sid": "RosetObjects", "Effect": "Allow", "Action": object_actions,
             "Resource": f"arn:aws:s3:::{bucket}/*"},
        ],
    }


_KEY_STEPS = {
    "r2": ["In the Cloudflare dashboard open R2 > Manage R2 API Tokens and create a token with "
           "'Object Read & Write' limited to bucket {bucket}.",
           "Copy the Access Key ID, the Secret Access Key and your account ID.",
           "Connect with credentials {{access_key_id, secret_access_key, account_id}}."],
    "minio": ["Create a policy allowing s3:ListBucket on arn:aws:s3:::{bucket} and s3:GetObject/s3:PutObject "
              "on arn:aws:s3:::{bucket}/* (mc admin policy create ... ).",
              "Create a user or service account with that policy and copy its access and secret keys.",
              "Connect with endpoint_url (e.g. http://minio.local:9000) and {{access_key_id, secret_access_key}}."],
    "b2": ["In Backblaze open Application Keys and add a key restricted to bucket {bucket} "
           "(read and write).",
           "Copy the keyID (access_key_id) and applicationKey (secret_access_key).",
           "Connect with the bucket's region (e.g. us-west-004, from its S3 endpoint)."],
    "do_spaces": ["In DigitalOcean open API > Spaces Keys and generate a key with access to {bucket}.",
                  "Copy the access key and secret.",
                  "Connect with the Space's region (e.g. nyc3)."],
    "wasabi": ["In Wasabi create a policy with the JSON below, a user with programmatic access, and "
               "attach the policy.",
               "Copy the user's access key and secret key.",
               "Connect with the bucket's region (e.g. us-east-1)."],
    "supabase_storage": ["In Supabase open Project Settings > Storage > S3 Connection and enable the S3 protocol.",
                         "Create an S3 access key and copy the Access key ID and Secret access key.",
                         "Connect with credentials {{access_key_id, secret_access_key, project_ref}} "
                         "and the project's region; the bucket is your storage bucket ({bucket})."],
    "s3": ["In AWS IAM create a policy with the JSON below (it names only {bucket}).",
           "Create an IAM user for Roset Local, attach the policy and create an access key for it.",
           "Connect with the bucket's region and {{access_key_id, secret_access_key}}."],
}


def setup_instructions(provider: str, bucket: str = "") -> dict[str, Any]:
    """``{"provider", "auth_type", "steps": [...], ...}``; the S3 family also gets ``policy``
    (a least-privilege IAM policy naming the bucket) and ``policy_json`` (the same, as text)."""
    info = provider_info(provider)
    name = bucket or "YOUR_BUCKET"
    out: dict[str, Any] = {"provider": provider, "auth_type": info["auth_type"],
                           "credential_fields": list(info["credential_fields"])}
    if info["family"] == "s3":
        policy = s3_policy(name)
        out["steps"] = [s.format(bucket=name) for s in _KEY_STEPS[provider]]
        out["policy"] = policy
        out["policy_json"] = json.dumps(policy, indent=2)
        if info["endpoint"]:
            out["endpoint"] = info["endpoint"]
    elif provider == "gcs":
        out["steps"] = [
            "In Google Cloud IAM create a service account for Roset Local.",
            f"On bucket {name} grant it roles/storage.objectViewer and roles/storage.objectCreator "
            "(or roles/storage.objectUser).",
            "Create a JSON key for the service account (signed URLs are made with this key).",
            "Connect with credentials {\"service_account_json\": <the key file's content>}.",
        ]
    elif provider == "azure_blob":
        out["steps"] = [
            f"In the storage account create the container {name} if needed.",
            "Open Security + networking > Access keys and copy a connection string "
            "(or the account name and key).",
            "Connect with credentials {\"connection_string\"} or {\"account_name\", \"account_key\"}; "
            "signed URLs are SAS tokens made with the account key.",
        ]
    else:  # local
        out["steps"] = [
            "Start the server with ROSET_LOCAL_ROOTS listing the directories it may read "
            "(separated by ':').",
            f"Connect with bucket set to a directory inside one of them ({name}).",
            "Files are served by Roset Local itself through expiring links.",
        ]
    return out
