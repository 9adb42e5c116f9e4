import GatehouseRuntime
import Hummingbird

/// The admin API's read-only view of a tenant's users (see docs/openapi/admin.json):
/// `GET /admin/tenants/{tenant}/users?limit=&cursor=` and `GET /admin/tenants/{tenant}/users/{user_id}`,
/// both behind the operator token.
package enum UserAdminRoutes {
    package static func add<Context: RequestContext>(to router: Router<Context>, directory: UserDirectory, operatorToken: OperatorToken?) {
        let users = router.group("admin/tenants/:tenant/users").add(middleware: OperatorAuthMiddleware<Context>(token: operatorToken))
        users.get { request, context -> Response in
            let tenant = try context.parameters.require("tenant")
            let limit = try pageSize(request.uri.queryParameters["limit"].map(String.init))
            let cursor = request.uri.queryParameters["cursor"].map(String.init)
            if let cursor, cursor.isEmpty || cursor.utf8.count > 64 { throw APIError.invalidRequest("cursor is not valid") }
            return try JSONBody.response(try await directory.list(tenant: tenant, limit: limit, after: cursor))
        }
        users.get(":user_id") { _, context -> Response in
            let tenant = try context.parameters.require("tenant")
            let userId = try context.parameters.require("user_id")
            guard let user = try await directory.show(tenant: tenant, id: userId) else {
                throw APIError.notFound("No such user in this tenant")
            }
            return try JSONBody.response(user)
        }
    }

    static func pageSize(_ text: String?) throws -> Int {
        guard let text else { return UserDirectory.defaultPageSize }
        guard let value = Int(text), (1...UserDirectory.maximumPageSize).contains(value) else {
            throw APIError.invalidRequest("limit must be an integer from 1 to \(UserDirectory.maximumPageSize)")
        }
        return value
    }
}
