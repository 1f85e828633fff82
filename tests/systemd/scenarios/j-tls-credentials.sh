#!/bin/bash
# j. HTTPS under systemd as cppicorn.systemd(7) documents it: the LoadCredential= drop-in
#    (cert and key from root-only files) and the port-443 socket named https, verbatim but for
#    the paths. The service answers https://localhost/ with the certificate curl verifies,
#    and its user cannot read the key file it serves with.
set -u; . "$SD_LIB"
S=cppicorn@tls.socket U=cppicorn@tls.service D=/etc/ssl/cppicorn-test

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
    -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout "$SD_WORK/j.key" \
    -out "$SD_WORK/j.pem" 2>"$SD_WORK/j-openssl.log" || { fail j-tls "openssl: $(cat "$SD_WORK/j-openssl.log")"; exit 0; }
write_file $D/fullchain.pem < "$SD_WORK/j.pem"
write_file $D/privkey.pem < "$SD_WORK/j.key"
inside chmod 700 $D
inside chmod 600 $D/privkey.pem

dropin $U tls <<DROPIN
[Service]
LoadCredential=tls.pem:$D/fullchain.pem
LoadCredential=tls.key:$D/privkey.pem
DROPIN
dropin $S https <<'DROPIN'
[Socket]
ListenStream=
ListenStream=443
FileDescriptorName=https
NoDelay=yes
DROPIN
conf tls <<CONF
app: hello:app
chdir: $SD_EXAMPLES
workers: 1
certfile: tls.pem
keyfile: tls.key
bind:
  - fd://https
CONF

sc start $S; rc=$?
body=$(http --cacert $D/fullchain.pem https://localhost/)
wait_for 10 active $U
check j-tls-load-credential $([ $rc = 0 ] && [ "$body" = "Hello, World!" ] && active $U; echo $?) \
    "socket rc=$rc; curl --cacert (the served certificate) https://localhost/ → '$body'; $U $(prop $U ActiveState)"

mp=$(prop $U MainPID)
user=$(inside ps -o user= -p "$mp" 2>&1 | tr -d ' ')
denied=$(inside setpriv --reuid=cppicorn --regid=cppicorn --clear-groups cat $D/privkey.pem 2>&1 >/dev/null)
check j-tls-key-not-readable-by-the-service-user \
    $([ "$user" = cppicorn ] && [[ $denied == *"Permission denied"* ]]; echo $?) \
    "master runs as '$user'; as cppicorn, cat $D/privkey.pem: ${denied:-read it}"

plain=$(http_code http://localhost:443/)
check j-tls-plain-http-gets-400 $([ "$plain" = 400 ]; echo $?) "plain HTTP to the https socket → $plain"
sc stop $S $U
