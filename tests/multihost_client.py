"""An API client that runs on the multi-host test's web host (the test itself stays on the
machine's own network, which cannot reach the hosts): one JSON request a line on stdin, one
JSON answer a line on stdout, one cookie jar for the whole session, as a browser or an API
consumer keeps its session. Standard library only.

A request: {"method": "POST", "url": "http://10.77.0.2:8000/api/v1/generate/", "json": {...}}
or with "files": {"file": ["photo.jpg", "image/jpeg", "<base64>"]} (and form fields in "data")
for a multipart upload.
An answer: {"status": 202, "json": {...}} (or "text" when the body is not JSON, "error" when
the request could not be made)."""
import base64
import http.cookiejar
import json
import sys
import urllib.error
import urllib.request
import uuid


def multipart(fields: dict, files: dict) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
             for name, value in fields.items()]
    for field, (name, content_type, data) in files.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{name}"\r\n'
                     f"Content-Type: {content_type}\r\n\r\n".encode() + base64.b64decode(data) + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def answer(opener, request: dict) -> dict:
    body, headers = None, {"Accept": "application/json", "Accept-Language": "en"}
    if "json" in request:
        body, headers["Content-Type"] = json.dumps(request["json"]).encode(), "application/json"
    elif "files" in request:
        body, headers["Content-Type"] = multipart(request.get("data", {}), request["files"])
    call = urllib.request.Request(request["url"], data=body, headers=headers, method=request.get("method", "GET"))
    try:
        with opener.open(call, timeout=request.get("timeout", 60)) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    except OSError as exc:
        return {"status": 0, "error": str(exc)}
    try:
        return {"status": status, "json": json.loads(raw)}
    except ValueError:
        return {"status": status, "text": raw.decode(errors="replace")[:2000]}


def main() -> None:
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    for line in sys.stdin:
        print(json.dumps(answer(opener, json.loads(line))), flush=True)


if __name__ == "__main__":
    main()
