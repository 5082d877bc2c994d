/*
 * tests/fuzz/fuzz_conn_client.c - a client connection fed arbitrary server
 * bytes in arbitrary pieces; see fuzz_conn.h for the input layout.
 */
#include "fuzz_conn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_conn(WSIO_ROLE_CLIENT, data, size);
}
