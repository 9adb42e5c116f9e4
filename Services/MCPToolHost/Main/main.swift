import Foundation
import MCPToolHost
import GatehouseRuntime

exit(await ServiceMain.run(definition: ToolHostService.definition) { context in
    try ToolHostService.buildApplication(context: context)
})
