-- wrk script: RFC 7591 registrations of public native clients at the benchmark's tenant.
-- wrk reports any status outside 2xx/3xx as "Non-2xx or 3xx responses"; the benchmark fails on it.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Forwarded-Host"] = "acme.example"
wrk.body = '{"redirect_uris":["http://127.0.0.1:5555/cb"],"token_endpoint_auth_method":"none","client_name":"bench"}'
