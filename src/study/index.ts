// study: the study's sweeps, its runs as one table (runs.csv), the learning rate
// chosen on validation per variant, paired comparisons on test, the export.
export { STUDY_SWEEPS, STUDY_QUESTIONS, studySweeps, studySweepPath } from './manifest.js';
export type { StudyModel, StudySweep } from './manifest.js';
export { studyRowsFromStore, STUDY_COLUMNS, STUDY_STATUSES, metricOf, storeMetricNames, higherIsBetter } from './rows.js';
export type { StudyRow, StudyStatus, StudyMetric, RowsFromStoreOptions } from './rows.js';
export { chooseLearningRates, choiceOf, interval } from './select.js';
export type { LrChoice, Interval, ChoiceState } from './select.js';
export { compareChoices, describeComparison, formatInterval, formatMean, unitOf, LOSS_UNIT, ACCURACY_UNIT } from './compare.js';
export type { StudyComparison, MetricUnit } from './compare.js';
export { readStudyRuns, readStudyTraces, studyRunsPath, studyTracesPath, hasStudyRuns, rowsToCSV, rowsToParquet, TRACE_COLUMNS } from './table-io.js';
export type { StudyTrace } from './table-io.js';
export { exportStudy, studyProgress, studyRows, choiceRows, studyTraces } from './export.js';
export type { StudyExport, StudyProgress } from './export.js';
