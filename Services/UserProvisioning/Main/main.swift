import Foundation
import UserProvisioning
import GatehouseRuntime

exit(await ServiceMain.run(definition: ProvisioningService.definition) { context in
    ProvisioningService.buildApplication(context: context)
})
