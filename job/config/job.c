#include "config/job.h"

const char *config_strategy_name(StrategyBy by)
{
    switch (by) {
    case STRATEGY_SCORE:
        return "score";
    case STRATEGY_CATEGORY:
        return "category";
    case STRATEGY_EMBEDDING:
        return "embedding";
    case STRATEGY_EMBEDDING_SCORE:
        return "[embedding, score]";
    }
    return "unknown";
}
