import Foundation
import GatehouseRuntime
import MCPToolHost

exit(
    await ServiceMain.run(definition: ToolHostService.definition) { context in
        try ToolHostService.buildApplication(context: context)
    }
)
