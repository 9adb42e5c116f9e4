import Foundation
import AuthorizationGateway
import GatehouseRuntime

exit(await ServiceMain.run(definition: GatewayService.definition) { context in
    GatewayService.buildApplication(context: context)
})
