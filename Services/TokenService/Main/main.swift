import Foundation
import TokenService
import GatehouseRuntime

exit(await ServiceMain.run(definition: TokenServiceService.definition) { context in
    TokenServiceService.buildApplication(context: context)
})
