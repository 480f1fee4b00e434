import { BarChart, BoxplotChart, LineChart, ScatterChart } from 'echarts/charts'
import { GridComponent, LegendComponent, MarkAreaComponent, TooltipComponent } from 'echarts/components'
import * as echarts from 'echarts/core'
import { SVGRenderer } from 'echarts/renderers'
import { useEffect, useRef, useSyncExternalStore } from 'react'

echarts.use([
  BarChart,
  BoxplotChart,
  LineChart,
  ScatterChart,
  GridComponent,
  LegendComponent,
  MarkAreaComponent,
  TooltipComponent,
  SVGRenderer,
])

export type ChartOption = echarts.EChartsCoreOption
export type ChartClick = { seriesName?: string; name?: string; value?: unknown; dataIndex: number }

function subscribeTheme(onChange: () => void) {
  const observer = new MutationObserver(onChange)
  observer.observe(document.documentElement, { attributes: true, attributeFilter: ['data-theme'] })
  return () => observer.disconnect()
}
const darkNow = () => document.documentElement.dataset.theme === 'dark'

/**
 * One ECharts instance in a box that follows its size and the app's light or dark theme. Drawn as SVG:
 * crisp at any zoom, light for charts of a few hundred points, and its labels are text an accessibility
 * tool (and e2e/layout.spec.ts, which checks that no two overlap) can read.
 */
export function EChart({
  option,
  onClick,
  label,
  testId,
}: {
  option: ChartOption
  onClick?: (event: ChartClick) => void
  label: string
  testId: string
}) {
  const box = useRef<HTMLDivElement>(null)
  const chart = useRef<echarts.ECharts | null>(null)
  const dark = useSyncExternalStore(subscribeTheme, darkNow)
  const clickRef = useRef(onClick)
  useEffect(() => {
    clickRef.current = onClick
  })

  useEffect(() => {
    if (box.current === null) return
    const instance = echarts.init(box.current, dark ? 'dark' : undefined, { renderer: 'svg' })
    chart.current = instance
    instance.on('click', (event) => clickRef.current?.(event as unknown as ChartClick))
    const observer = new ResizeObserver(() => instance.resize())
    observer.observe(box.current)
    return () => {
      observer.disconnect()
      instance.dispose()
      chart.current = null
    }
  }, [dark])

  useEffect(() => {
    chart.current?.setOption({ backgroundColor: 'transparent', ...option }, { notMerge: true })
  }, [option, dark])

  return <div ref={box} className="chart" role="img" aria-label={label} data-testid={testId} />
}
