#!/bin/sh
# tests/tls/make_certs.sh DIR - the certificates the TLS tests use, made
# with the openssl command into DIR (never committed):
#   ca.pem                a test CA (ca.key)
#   server.pem/.key       signed by it, for localhost, 127.0.0.1 and ::1
#   wrong.pem/.key        signed by it, for wrong.example only
#   self.pem/.key         self-signed for localhost and 127.0.0.1 (untrusted)
set -eu
dir=${1:?usage: $0 DIR}
cd "$dir"
days=2
subj() { printf '/CN=%s' "$1"; }

openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days $days \
    -subj "$(subj 'wsio test CA')" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
    2>/dev/null

leaf() { # name SAN
    openssl req -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" \
        -subj "$(subj "$1")" 2>/dev/null
    printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' "$2" >"$1.ext"
    openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial \
        -out "$1.pem" -days $days -extfile "$1.ext" 2>/dev/null
}
leaf server 'DNS:localhost,IP:127.0.0.1,IP:::1'
leaf wrong 'DNS:wrong.example'

openssl req -x509 -newkey rsa:2048 -nodes -keyout self.key -out self.pem -days $days \
    -subj "$(subj localhost)" -addext 'subjectAltName=DNS:localhost,IP:127.0.0.1' 2>/dev/null
