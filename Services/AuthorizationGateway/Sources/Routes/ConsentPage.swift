import Foundation
import GatehouseRuntime
import HTTPTypes
import Hummingbird

/// The HTML pages the user's browser sees: the consent page and our error page. Self-contained
/// (no script, no external asset), escaped, not frameable, never cached.
package enum ConsentPage {
    static let securityHeaders: HTTPFields = [
        .contentType: "text/html; charset=utf-8",
        .cacheControl: "no-store",
        .contentSecurityPolicy: "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        HTTPField.Name("X-Frame-Options")!: "DENY",
        HTTPField.Name("Referrer-Policy")!: "no-referrer",
        HTTPField.Name("X-Content-Type-Options")!: "nosniff",
    ]

    static let scopeDescriptions: [String: String] = [
        "mcp:tools": "Use this server's tools on your behalf",
        "openid": "Know who you are",
        "profile": "See your name",
        "email": "See your email address",
        "offline_access": "Stay signed in (keep access when you are away)",
    ]

    package static func consent(
        tenantName: String,
        clientName: String?,
        clientId: String,
        redirectUri: String,
        scopes: [String],
        requestId: String,
        csrf: String
    ) -> String {
        let redirectHost =
            URLComponents(string: redirectUri).flatMap { components in
                components.host.map { host in components.port.map { "\(host):\($0)" } ?? host }
            } ?? redirectUri
        let name = clientName ?? clientId
        let items = scopes.map { "<li><strong>\(HTMLText.escape($0))</strong> — \(HTMLText.escape(scopeDescriptions[$0] ?? $0))</li>" }.joined()
        return page(
            title: "Allow \(name)?",
            body: """
                <h1>Allow <span id="client-name">\(HTMLText.escape(name))</span> to access \(HTMLText.escape(tenantName))?</h1>
                <p>After you sign in, you will be sent back to <strong id="redirect-host">\(HTMLText.escape(redirectHost))</strong>.
                   Only continue if you started this from that application.</p>
                <p>It asks to:</p>
                <ul id="scopes">\(items)</ul>
                <form method="post" action="/oauth/consent">
                  <input type="hidden" name="request" value="\(HTMLText.escape(requestId))">
                  <input type="hidden" name="csrf" value="\(HTMLText.escape(csrf))">
                  <button type="submit" name="decision" value="approve" id="approve">Allow and sign in</button>
                  <button type="submit" name="decision" value="deny" id="deny">Deny</button>
                </form>
                """
        )
    }

    package static func error(_ code: APIError.Code, _ description: String) -> String {
        page(
            title: "Authorization failed",
            body: """
                <h1>This sign-in cannot continue</h1>
                <p id="error-code">\(HTMLText.escape(code.rawValue))</p>
                <p id="error-description">\(HTMLText.escape(description))</p>
                <p>Return to the application and try again.</p>
                """
        )
    }

    static func page(title: String, body: String) -> String {
        """
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
        <title>\(HTMLText.escape(title))</title>
        <style>body{font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem;line-height:1.5}
        button{font-size:1rem;padding:.5rem 1rem;margin-right:.5rem}</style></head>
        <body>\(body)</body></html>
        """
    }

    /// `formTargets`: URLs the consent form's answer may redirect to (the upstream's authorization
    /// endpoint, the client's redirect URI). Browsers apply `form-action` to the redirects that
    /// follow a form submission too, so each target's origin (or, for a private-use scheme, the
    /// scheme) is allowed next to `'self'`.
    static func response(_ html: String, status: HTTPResponse.Status = .ok, cookie: String? = nil, formTargets: [String] = []) -> Response {
        var headers = securityHeaders
        if let cookie { headers[.setCookie] = cookie }
        let sources = formTargets.compactMap(cspSource)
        if !sources.isEmpty {
            headers[.contentSecurityPolicy] = headers[.contentSecurityPolicy]!
                .replacingOccurrences(of: "form-action 'self'", with: "form-action 'self' " + Set(sources).sorted().joined(separator: " "))
        }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: html)))
    }

    /// The CSP source expression for a URL: `scheme://host[:port]`, or `scheme:` for a private-use
    /// scheme; nil for anything a policy cannot name safely.
    static func cspSource(_ url: String) -> String? {
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(),
            scheme.unicodeScalars.allSatisfy({ CharacterSet.alphanumerics.contains($0) || "+-.".unicodeScalars.contains($0) }),
            scheme.unicodeScalars.allSatisfy(\.isASCII)
        else { return nil }
        guard scheme == "http" || scheme == "https" else { return scheme + ":" }
        guard let host = components.host, !host.isEmpty,
            host.unicodeScalars.allSatisfy({ $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "-.[]:".unicodeScalars.contains($0)) })
        else { return nil }
        return "\(scheme)://\(host)" + (components.port.map { ":\($0)" } ?? "")
    }
}
