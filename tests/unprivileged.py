"""Running locmap as an unprivileged user in tests (root bypasses file permissions)."""

#: Command prefix that runs a subprocess as user nobody (util-linux setpriv).
NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
