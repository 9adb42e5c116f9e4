import AsyncHTTPClient
import Foundation
import GatehouseCrypto
import GatehouseEvents
import GatehouseMessaging
import GatehouseRuntime
import HTTPTypes
import Hummingbird
import Logging
import Metrics
import NIOCore
import NIOFoundationCompat
import NIOHTTP1

/// `/mcp` of a tenant in `proxy` mode: each request, already authenticated by `MCPEndpoint`,
/// is forwarded to the tenant's own MCP server with a signed identity assertion instead of the
/// client's token (docs/design.md invariant 8), and the answer comes back streamed.
///
/// Before the upstream sees anything: the session id must open for this user (404), the body
/// must be one JSON-RPC message within the size limit, and a `tools/call` must have the scopes
/// the tenant's rules require (403 naming them). A failing upstream is never the client's
/// fault (invariant 9): unreachable 503, too slow 504, broken or refusing our assertion 502.
struct MCPProxy: Sendable {
    struct Limits: Sendable {
        /// Largest request body forwarded.
        var maximumRequestBytes: Int
        /// Largest answer passed on: a whole JSON body, or all the events of one stream.
        var maximumResponseBytes: Int

        init(maximumRequestBytes: Int = 4 << 20, maximumResponseBytes: Int = 16 << 20) {
            self.maximumRequestBytes = maximumRequestBytes
            self.maximumResponseBytes = maximumResponseBytes
        }
    }

    let http: HTTPClient
    let signer: AssertionSigner?
    let sessions: ProxySessions
    /// The user's upstream access token, for tenants that hand it on (nil: not configured).
    let upstreamTokens: UpstreamTokenClient?
    let store: ToolHostStore
    let limits: Limits

    func handle(_ request: Request, principal: Principal, tenant: ToolTenant, origin: PublicOrigin, logger: Logger) async throws -> Response {
        let settings = tenant.mcp
        guard let upstreamURL = settings.upstreamUrl, let signer else {
            logger.error("Proxied tenant without an upstream URL or assertion keys (GATEHOUSE_ASSERTION_KEYS)")
            return Self.failure(.serviceUnavailable, "The MCP server behind this endpoint is not configured", retryAfter: true)
        }
        let versionHeader = request.headers[.mcpProtocolVersion]
        var era = ProtocolEra.of(versionHeader: versionHeader, meta: nil)
        if request.method != .post, era == .stateless {
            // The stateless era has no listening stream and no session to end.
            return MCPEndpoint.jsonRPCError(
                .methodNotAllowed,
                code: -32000,
                "Method not allowed: this protocol revision uses POST only",
                headers: [.allow: "POST, OPTIONS"]
            )
        }
        var body: ByteBuffer?
        var exchange = ProxiedExchange.other
        if request.method == .post {
            let collected: ByteBuffer
            do {
                collected = try await request.body.collect(upTo: limits.maximumRequestBytes)
            } catch {
                return MCPEndpoint.jsonRPCError(.contentTooLarge, code: -32600, "The request body exceeds \(limits.maximumRequestBytes) bytes")
            }
            guard let parsed = try? JSONSerialization.jsonObject(with: Data(buffer: collected)) else {
                return MCPEndpoint.jsonRPCError(.badRequest, code: -32700, "Parse error: the body is not JSON")
            }
            guard let message = parsed as? [String: Any] else {
                return MCPEndpoint.jsonRPCError(.badRequest, code: -32600, "Send one JSON-RPC message per request")
            }
            era = ProtocolEra.of(versionHeader: versionHeader, meta: ProtocolEra.meta(of: message))
            // The upstream is never sent a stateless request that breaks the revision's rules.
            if era == .stateless, case .failure(let rejection) = StatelessEnvelope.check(message, headers: request.headers) {
                return StatelessExchange.rejection(rejection, id: JSONRPCID(message["id"]))
            }
            switch (message["method"] as? String, JSONRPCID(message["id"])) {
            case ("tools/call", let id?):
                let name = ((message["params"] as? [String: Any])?["name"] as? String) ?? ""
                let required = settings.requiredScopes(forTool: name)
                if !required.allSatisfy(principal.scopes.contains) {
                    let call = ToolCall(caller: .user(principal), arguments: [:], invocationId: UUID(), started: .now)
                    await record(call.invocationRecord(tool: name, outcome: .denied), logger: logger)
                    Self.outcomes[.denied]?.increment()
                    let description = "The \(name.prefix(64)) tool needs the scopes \(required.joined(separator: " "))"
                    throw APIError(
                        .forbidden,
                        code: .insufficientScope,
                        description,
                        headers: [
                            .wwwAuthenticate: Challenge(origin: origin, scope: required).header(error: .insufficientScope, description: description)
                        ]
                    )
                }
                exchange = .toolCall(name: name, id: id)
            case ("tools/list", let id?) where settings.hideUnauthorizedTools:
                let scopes = principal.scopes
                exchange = .toolList(id: id, privately: era == .stateless) { name in
                    !settings.requiredScopes(forTool: name).allSatisfy(scopes.contains)
                }
            default:
                break
            }
            body = collected
        }
        // A stateless request has no session: an id sent anyway is ignored (and never forwarded).
        var upstreamSession: String?
        if era == .handshake, let wrapped = request.headers[.mcpSessionId] {
            guard let session = sessions.unwrap(wrapped, tenant: tenant.id, subject: principal.proxySessionSubject) else {
                return MCPEndpoint.jsonRPCError(.notFound, code: -32001, "Session not found")
            }
            upstreamSession = session
        }
        let started = ContinuousClock.now
        let assertion: String
        do {
            assertion = try signer.sign(
                IdentityAssertion(principal: principal, issuer: origin.description, audience: upstreamURL),
                tenant: tenant.id
            )
        } catch {
            logger.error("Could not sign the identity assertion", metadata: ["error": "\(error)"])
            throw APIError.temporarilyUnavailable
        }
        var outgoing = HTTPClientRequest(url: upstreamURL)
        outgoing.method = HTTPMethod(rawValue: request.method.rawValue)
        outgoing.headers = Self.forwardedHeaders(
            request.headers,
            excluding: [settings.assertionHeader] + (settings.upstreamTokenHeader.map { [$0] } ?? [])
        )
        if settings.assertionHeader.lowercased() == "authorization" {
            outgoing.headers.add(name: "Authorization", value: "Bearer " + assertion)
        } else {
            outgoing.headers.add(name: settings.assertionHeader, value: assertion)
        }
        if let upstreamSession { outgoing.headers.add(name: "Mcp-Session-Id", value: upstreamSession) }
        // A service principal signed in nowhere upstream: it has no provider token to hand on.
        if let header = settings.upstreamTokenHeader, let userId = principal.userId {
            guard let upstreamTokens else {
                logger.error("A tenant hands on upstream tokens but GATEHOUSE_GATEWAY_URL is not set")
                return Self.failure(
                    .serviceUnavailable,
                    "The MCP server behind this endpoint is not configured",
                    id: exchange.requestID,
                    retryAfter: true
                )
            }
            do {
                outgoing.headers.add(name: header, value: try await upstreamTokens.accessToken(tenant: tenant.id, userId: userId).revealed)
            } catch UpstreamTokenClient.Failure.noGrant {
                logger.notice("No upstream grant to hand on for this user")
                return Self.failure(
                    .badGateway,
                    "The identity provider no longer accepts this user's sign-in; sign in again",
                    id: exchange.requestID
                )
            } catch {
                logger.warning("Upstream token unavailable", metadata: ["error": "\(error)"])
                return Self.failure(.serviceUnavailable, "The identity provider cannot be reached", id: exchange.requestID, retryAfter: true)
            }
        }
        if let body { outgoing.body = .bytes(body) }

        let call = ToolCall(caller: .user(principal), arguments: [:], invocationId: UUID(), started: started)
        let answer: HTTPClientResponse
        do {
            answer = try await http.execute(outgoing, timeout: .seconds(Int64(settings.timeoutSeconds)), logger: logger)
        } catch {
            let (status, message) = Self.classify(error)
            logger.warning("Upstream MCP server failed", metadata: ["status": "\(status.code)", "error": "\(error)"])
            Self.upstreamFailures.increment()
            await recordIfCall(exchange, call: call, outcome: .upstreamFailure, logger: logger)
            return Self.failure(status, message, id: exchange.requestID, retryAfter: status != .badGateway)
        }
        switch answer.status.code {
        case 401, 403:
            logger.error(
                "The upstream MCP server refused Gatehouse's identity assertion: check its issuer, audience and JWKS settings",
                metadata: ["status": "\(answer.status.code)", "audience": "\(upstreamURL)"]
            )
            Self.assertionRefusals.increment()
            await recordIfCall(exchange, call: call, outcome: .upstreamFailure, logger: logger)
            return Self.failure(.badGateway, "The MCP server behind this endpoint refused the request", id: exchange.requestID)
        case 500...599:
            logger.warning("Upstream MCP server answered an error", metadata: ["status": "\(answer.status.code)"])
            Self.upstreamFailures.increment()
            await recordIfCall(exchange, call: call, outcome: .upstreamFailure, logger: logger)
            if answer.status.code == 503 {
                return Self.failure(
                    .serviceUnavailable,
                    "The MCP server behind this endpoint is unavailable",
                    id: exchange.requestID,
                    retryAfter: true
                )
            }
            return Self.failure(.badGateway, "The MCP server behind this endpoint failed", id: exchange.requestID)
        default:
            break
        }
        var headers = Self.returnedHeaders(answer.headers)
        if let session = answer.headers.first(name: "Mcp-Session-Id") {
            guard let wrapped = sessions.wrap(session, tenant: tenant.id, subject: principal.proxySessionSubject) else {
                logger.error("Upstream MCP server gave a session id the transport does not allow")
                return Self.failure(.badGateway, "The MCP server behind this endpoint answered something that is not MCP", id: exchange.requestID)
            }
            headers[.mcpSessionId] = wrapped
        }
        let status = HTTPResponse.Status(code: Int(answer.status.code), reasonPhrase: answer.status.reasonPhrase)
        let type = answer.headers.first(name: "Content-Type")?.lowercased() ?? ""
        if type.hasPrefix("text/event-stream") {
            return Response(status: status, headers: headers, body: stream(answer.body, exchange: exchange, call: call, logger: logger))
        }
        if let length = answer.headers.first(name: "Content-Length").flatMap(Int.init), length > limits.maximumResponseBytes {
            return await tooLarge(exchange: exchange, call: call, logger: logger)
        }
        var collected: ByteBuffer
        do {
            collected = try await answer.body.collect(upTo: limits.maximumResponseBytes)
        } catch is NIOTooManyBytesError {
            return await tooLarge(exchange: exchange, call: call, logger: logger)
        } catch {
            logger.warning("Upstream MCP server's answer broke off", metadata: ["error": "\(error)"])
            Self.upstreamFailures.increment()
            await recordIfCall(exchange, call: call, outcome: .upstreamFailure, logger: logger)
            return Self.failure(.badGateway, "The MCP server behind this endpoint broke off its answer", id: exchange.requestID)
        }
        if exchange.inspectsAnswer, type.hasPrefix("application/json") {
            let data = Array(collected.readableBytesView)
            let response = exchange.response(in: data)
            if case .toolCall = exchange {
                await recordIfCall(exchange, call: call, outcome: response.map(ProxiedExchange.outcome(of:)) ?? .upstreamFailure, logger: logger)
            } else if let response, let filtered = exchange.filtered(response) {
                collected = ByteBuffer(bytes: filtered)
            }
        } else {
            await recordIfCall(exchange, call: call, outcome: .upstreamFailure, logger: logger)
        }
        return Response(status: status, headers: headers, body: .init(byteBuffer: collected))
    }

    // MARK: Streams

    /// Passes an event stream on as it arrives. For a tool call or a filtered list, each whole
    /// event is read for the response to the request; the call's outcome is recorded when the
    /// stream ends, whichever way it ends.
    private func stream(_ upstream: HTTPClientResponse.Body, exchange: ProxiedExchange, call: ToolCall, logger: Logger) -> ResponseBody {
        let limit = limits.maximumResponseBytes
        return ResponseBody { writer in
            var splitter = SSEEventSplitter(limit: limit)
            var outcome: ToolInvoked.Outcome?
            var total = 0
            var overLimit = false
            do {
                for try await chunk in upstream {
                    total += chunk.readableBytes
                    if total > limit {
                        overLimit = true
                        break
                    }
                    guard exchange.inspectsAnswer else {
                        try await writer.write(chunk)
                        continue
                    }
                    var out = ByteBuffer()
                    for event in try splitter.feed(chunk) {
                        if let data = SSEEventSplitter.data(of: event), let response = exchange.response(in: data) {
                            if case .toolCall = exchange { outcome = ProxiedExchange.outcome(of: response) }
                            if let filtered = exchange.filtered(response) {
                                out.writeBytes(SSEEventSplitter.replacingData(of: event, with: filtered))
                                continue
                            }
                        }
                        out.writeBytes(event)
                    }
                    if out.readableBytes > 0 { try await writer.write(out) }
                }
                if overLimit || splitter.remainder.count > limit {
                    logger.warning("Upstream MCP server's stream exceeded the proxy's limit; cut off", metadata: ["limit": "\(limit)"])
                    Self.oversizedAnswers.increment()
                    try await writer.write(
                        ByteBuffer(bytes: Self.errorEvent("The MCP server's answer exceeds \(limit) bytes", id: exchange.requestID))
                    )
                } else if !splitter.remainder.isEmpty {
                    try await writer.write(ByteBuffer(bytes: splitter.remainder))
                }
                try await writer.finish(nil)
            } catch is SSEEventSplitter.EventTooLarge {
                Self.oversizedAnswers.increment()
                try? await writer.write(ByteBuffer(bytes: Self.errorEvent("The MCP server's answer exceeds \(limit) bytes", id: exchange.requestID)))
                try? await writer.finish(nil)
            } catch {
                // The client went away (the upstream request is cancelled as its body is
                // dropped) or the upstream broke off: either way the stream ends here.
                logger.debug("Proxied stream ended early", metadata: ["error": "\(error)"])
            }
            await recordIfCall(exchange, call: call, outcome: outcome ?? .upstreamFailure, logger: logger)
        }
    }

    private func tooLarge(exchange: ProxiedExchange, call: ToolCall, logger: Logger) async -> Response {
        logger.warning("Upstream MCP server's answer exceeded the proxy's limit", metadata: ["limit": "\(limits.maximumResponseBytes)"])
        Self.oversizedAnswers.increment()
        await recordIfCall(exchange, call: call, outcome: .upstreamFailure, logger: logger)
        return Self.failure(
            .badGateway,
            "The MCP server's answer exceeds the proxy's limit of \(limits.maximumResponseBytes) bytes",
            id: exchange.requestID
        )
    }

    // MARK: Usage

    private func recordIfCall(_ exchange: ProxiedExchange, call: ToolCall, outcome: ToolInvoked.Outcome, logger: Logger) async {
        guard case .toolCall(let name, _) = exchange else { return }
        Self.outcomes[outcome]?.increment()
        await record(call.invocationRecord(tool: name, outcome: outcome), logger: logger)
    }

    /// The upstream has already acted, so a call whose usage cannot be written is still
    /// answered; the loss is logged and counted for the operator.
    private func record(_ invocation: OutboxRecord, logger: Logger) async {
        do {
            try await store.record(invocation)
        } catch {
            logger.error("Could not record tool.invoked of a proxied call", metadata: ["error": "\(error)"])
            Self.lostUsage.increment()
        }
    }

    // MARK: Failures

    /// How a failed exchange with the upstream is answered: 504 when it was too slow, 503 when
    /// it could not be reached, 502 otherwise.
    static func classify(_ error: any Error) -> (HTTPResponse.Status, String) {
        switch error as? HTTPClientError {
        case .deadlineExceeded?, .readTimeout?:
            return (.gatewayTimeout, "The MCP server behind this endpoint did not answer in time")
        case .remoteConnectionClosed?, .invalidURL?:
            return (.badGateway, "The MCP server behind this endpoint failed")
        default:
            // Refused, unresolvable or unreachable: worth trying again shortly.
            return (.serviceUnavailable, "The MCP server behind this endpoint cannot be reached")
        }
    }

    static func failure(_ status: HTTPResponse.Status, _ message: String, id: JSONRPCID? = nil, retryAfter: Bool = false) -> Response {
        MCPEndpoint.jsonRPCError(status, code: -32603, message, id: id, headers: retryAfter ? [.retryAfter: "5"] : [:])
    }

    /// A last event carrying a JSON-RPC error, for a stream that had to be cut off.
    static func errorEvent(_ message: String, id: JSONRPCID?) -> [UInt8] {
        var text = #"{"jsonrpc":"2.0","id":"#
        if let id { JSONValueWriter.write(id: id, to: &text) } else { text += "null" }
        text += #","error":{"code":-32603,"message":"#
        JSONObjectWriter.appendQuoted(message, to: &text)
        text += "}}"
        return Array("event: message\ndata: \(text)\n\n".utf8)
    }

    // MARK: Metrics

    static let upstreamFailures = Counter(label: "gatehouse_proxy_upstream_failures_total")
    static let assertionRefusals = Counter(label: "gatehouse_proxy_assertion_refused_total")
    static let oversizedAnswers = Counter(label: "gatehouse_proxy_oversized_answers_total")
    static let lostUsage = Counter(label: "gatehouse_proxy_usage_not_recorded_total")
    static let outcomes: [ToolInvoked.Outcome: Counter] = Dictionary(
        uniqueKeysWithValues: ToolInvoked.Outcome.allCases.map {
            ($0, Counter(label: "gatehouse_proxy_tool_calls_total", dimensions: [("outcome", $0.rawValue)]))
        }
    )
}
