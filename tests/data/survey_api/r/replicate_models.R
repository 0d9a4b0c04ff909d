## References for the replicate-design ordinal model and index comparisons in
## tests/test_replicates.py, computed with R's survey package on the CSV samples of this folder
## (not run in CI). Run from the repository root:
##   Rscript tests/data/survey_api/r/replicate_models.R > tests/data/survey_api/r/replicate_models.Rout
## The printed output is committed beside this script (replicate_models.Rout).
suppressMessages(library(survey))
cat("R", R.version$major, ".", R.version$minor, " survey ", format(packageVersion("survey")), "\n", sep = "")
options(digits = 7, survey.replicates.mse = FALSE)
dir <- "tests/data/survey_api"
apiclus1 <- read.csv(file.path(dir, "apiclus1.csv"), stringsAsFactors = TRUE,
                     colClasses = c(cds = "character"))

## svyolr on the JK1 design of apiclus1 (the example of ?svyolr): refitted in every replicate
## (svyolr.svyrep.design: MASS::polr with each replicate's weights, started at the full fit)
dclus1 <- svydesign(id = ~dnum, weights = ~pw, data = apiclus1, fpc = ~fpc)
dclus1 <- update(dclus1, mealcat = cut(meals, c(0, 25, 50, 75, 100)))
rclus1 <- as.svrepdesign(dclus1)
cat("### rows with a missing mealcat or predictor\n")
print(sum(!complete.cases(model.frame(rclus1)[, c("mealcat", "avg.ed", "mobility", "stype")])))
m <- svyolr(mealcat ~ avg.ed + mobility + stype, design = rclus1)
cat("### jk1 svyolr mealcat avg.ed mobility stype\n")
print(cbind(estimate = coef(m), SE = SE(m)), digits = 10)
## the same model by linearisation (svyolr on dclus1), for contrast
ml <- svyolr(mealcat ~ avg.ed + mobility + stype, design = dclus1)
cat("### linearised svyolr mealcat avg.ed mobility stype\n")
print(cbind(estimate = coef(ml), SE = SE(ml)), digits = 10)
