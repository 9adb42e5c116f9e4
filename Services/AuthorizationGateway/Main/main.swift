import AuthorizationGateway
import Foundation
import GatehouseRuntime

exit(
    await ServiceMain.run(definition: GatewayService.definition) { context in
        try GatewayService.buildApplication(context: context)
    }
)
