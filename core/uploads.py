"""The byte limit at the request-parsing layer, before any form or API view runs."""
from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler


class UploadSizeLimitHandler(FileUploadHandler):
    """First in ``FILE_UPLOAD_HANDLERS``: passes on at most ``CUALIFY_MAX_IMAGE_BYTES + 1``
    bytes of each uploaded file to the handlers that store it (memory, then a temporary file).

    A file over the limit therefore still arrives, one byte too long, and every door refuses
    it as too large with its usual message (the size check, or the intake rules), while the
    rest of it is read and dropped instead of filling memory or the disk. The web server's
    own body limit (``client_max_body_size``) stops it earlier still."""

    def receive_data_chunk(self, raw_data, start):
        room = settings.CUALIFY_MAX_IMAGE_BYTES + 1 - start
        return raw_data[:room] if room > 0 else b""

    def file_complete(self, file_size):
        return None  # the next handler makes the file
