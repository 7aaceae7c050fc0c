"""Uploads a file to kith with tuspy, the tus project's Python client.

    tuspy_upload.py start  ENDPOINT COOKIE FILE CHUNK PACE
    tuspy_upload.py resume UPLOAD_URL COOKIE FILE CHUNK

`start` creates the upload, prints `URL <upload url>` and sends the file
chunk by chunk, sleeping PACE seconds between chunks (so that a test can
kill the server half-way). `resume` continues an upload at its URL from
the offset the server reports, and prints `DONE <offset>` when whole.
"""

import sys
import time

from tusclient import client


def main():
    mode, target, cookie, path, chunk = sys.argv[1:6]
    headers = {"Cookie": cookie}
    chunk = int(chunk)
    if mode == "start":
        pace = float(sys.argv[6])
        tus = client.TusClient(target, headers=headers)
        up = tus.uploader(
            file_path=path,
            chunk_size=chunk,
            metadata={"filename": "photo.jpg", "filetype": "image/jpeg"},
            retries=0,
        )
        up.set_url(up.create_url())
        print("URL", up.url, flush=True)
        while up.offset < up.get_file_size():
            up.upload_chunk()
            print("OFFSET", up.offset, flush=True)
            time.sleep(pace)
    else:
        base = target.split("/api/")[0] + "/api/uploads"
        tus = client.TusClient(base, headers=headers)
        up = tus.uploader(file_path=path, chunk_size=chunk, url=target, retries=2, retry_delay=1)
        print("RESUMING", up.offset, flush=True)
        up.upload()
    print("DONE", up.offset, flush=True)


if __name__ == "__main__":
    main()
