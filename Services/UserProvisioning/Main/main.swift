import Foundation
import GatehouseRuntime
import UserProvisioning

let arguments = CommandLine.arguments
if let command = arguments.dropFirst().first, ProvisioningCommand.names.contains(command) {
    await ProvisioningCommand.run(Array(arguments.dropFirst()))
    exit(0)
}
exit(
    await ServiceMain.run(definition: ProvisioningService.definition, additionalCommands: ProvisioningCommand.names.sorted()) { context in
        ProvisioningService.buildApplication(context: context)
    }
)
