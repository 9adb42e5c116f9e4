import Foundation
import MCPToolHost
import GatehouseRuntime

exit(await ServiceMain.run(definition: ToolHostService.definition) { context in
    ToolHostService.buildApplication(context: context)
})
