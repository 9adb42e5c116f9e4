-- wrk script: RFC 7662 introspection of one active access token by the benchmark's resource server.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["X-Forwarded-Host"] = "acme.example"
wrk.headers["Authorization"] = os.getenv("GATEHOUSE_BENCH_AUTHORIZATION")
wrk.body = "token=" .. os.getenv("GATEHOUSE_BENCH_TOKEN")
