import Foundation
import GatehouseRuntime
import TokenService

exit(
    await ServiceMain.run(definition: TokenServiceService.definition) { context in
        try TokenServiceService.buildApplication(context: context)
    }
)
