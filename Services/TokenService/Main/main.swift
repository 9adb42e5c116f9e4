import Foundation
import TokenService
import GatehouseRuntime

exit(await ServiceMain.run(definition: TokenServiceService.definition) { context in
    try TokenServiceService.buildApplication(context: context)
})
