# shellcheck shell=bash
# S3-compatible object storage for the artifact store's tests: moto's
# server mode (PyPI `moto[server]`) in a venv under target/, on free
# loopback ports, kept running between runs (state under /tmp/skynet-s3).
# Two servers, as moto cannot do both in one:
# - SKYNET_TEST_S3_URL: signatures not checked (moto answers presigned
#   URLs only so), credentials `testing`, bucket SKYNET_TEST_S3_BUCKET;
# - SKYNET_TEST_S3_AUTH_URL: authentication enforced (moto's IAM check),
#   so a wrong key is refused as S3 would; its first requests create a
#   user with an S3 policy, a key (SKYNET_TEST_S3_AUTH_ACCESS_KEY_ID,
#   SKYNET_TEST_S3_AUTH_SECRET_ACCESS_KEY) and the same bucket.
# Each test works under a key prefix of its own.
skynet_s3_dir=/tmp/skynet-s3
skynet_s3_venv="$PWD/target/s3-venv"

skynet_s3_install() {
    [ -x "$skynet_s3_venv/bin/moto_server" ] && return 0
    if ! python3 -c "import venv, ensurepip" >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
        apt-get update -qq && apt-get install -y -qq python3-venv python3-pip >/dev/null
    fi
    mkdir -p "$(dirname "$skynet_s3_venv")" || return 1
    python3 -m venv "$skynet_s3_venv" || return 1
    "$skynet_s3_venv/bin/python" -m pip install --quiet --disable-pip-version-check 'moto[server]' || return 1
}

# skynet_s3_up NAME: whether server NAME answers and was set up.
skynet_s3_up() {
    local port
    port="$(cat "$skynet_s3_dir/$1/port" 2>/dev/null || true)"
    [ -n "$port" ] && [ -s "$skynet_s3_dir/$1/credentials" ] \
        && curl -fsS -o /dev/null "http://127.0.0.1:$port/moto-api/" 2>/dev/null
}

# skynet_s3_start NAME AUTH: start server NAME (AUTH = auth or open) and
# write its port and credentials.
skynet_s3_start() {
    local dir="$skynet_s3_dir/$1" port
    mkdir -p "$dir" || return 1
    if [ -s "$dir/pid" ]; then
        kill "$(cat "$dir/pid")" 2>/dev/null || true
    fi
    rm -f "$dir/credentials"
    port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')" || return 1
    if [ "$2" = auth ]; then
        # The first three requests (the user, its policy, its key) need
        # no signature; every later one does.
        INITIAL_NO_AUTH_ACTION_COUNT=3 nohup "$skynet_s3_venv/bin/moto_server" -H 127.0.0.1 -p "$port" \
            >"$dir/moto.log" 2>&1 &
    else
        nohup "$skynet_s3_venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$dir/moto.log" 2>&1 &
    fi
    echo "$!" >"$dir/pid"
    echo "$port" >"$dir/port"
    for _ in $(seq 1 60); do
        curl -fsS -o /dev/null "http://127.0.0.1:$port/moto-api/" 2>/dev/null && break
        sleep 0.5
    done
    "$skynet_s3_venv/bin/python" - "$port" "$2" >"$dir/credentials.new" <<'PY' || return 1
import json, sys
import boto3
url = f"http://127.0.0.1:{sys.argv[1]}"
key_id, secret = "testing", "testing"
if sys.argv[2] == "auth":
    iam = boto3.client("iam", endpoint_url=url, region_name="us-east-1",
                       aws_access_key_id="bootstrap", aws_secret_access_key="bootstrap")
    iam.create_user(UserName="skynet")
    iam.put_user_policy(UserName="skynet", PolicyName="s3", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
    }))
    key = iam.create_access_key(UserName="skynet")["AccessKey"]
    key_id, secret = key["AccessKeyId"], key["SecretAccessKey"]
s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1",
                  aws_access_key_id=key_id, aws_secret_access_key=secret)
s3.create_bucket(Bucket="skynet-test")
print(key_id)
print(secret)
PY
    mv "$dir/credentials.new" "$dir/credentials"
}

if skynet_s3_install; then
    if { skynet_s3_up open || skynet_s3_start open open; } && { skynet_s3_up auth || skynet_s3_start auth auth; }; then
        export SKYNET_TEST_S3_URL="http://127.0.0.1:$(cat "$skynet_s3_dir/open/port")"
        export SKYNET_TEST_S3_BUCKET=skynet-test
        export SKYNET_TEST_S3_AUTH_URL="http://127.0.0.1:$(cat "$skynet_s3_dir/auth/port")"
        SKYNET_TEST_S3_AUTH_ACCESS_KEY_ID="$(sed -n 1p "$skynet_s3_dir/auth/credentials")"
        SKYNET_TEST_S3_AUTH_SECRET_ACCESS_KEY="$(sed -n 2p "$skynet_s3_dir/auth/credentials")"
        export SKYNET_TEST_S3_AUTH_ACCESS_KEY_ID SKYNET_TEST_S3_AUTH_SECRET_ACCESS_KEY
    else
        echo "35-s3.sh: starting moto_server failed (see $skynet_s3_dir/*/moto.log)" >&2
    fi
else
    echo "35-s3.sh: installing moto[server] failed" >&2
fi
